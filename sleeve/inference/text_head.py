"""The text rung: character n-gram TF-IDF over a cover's OCR words + logistic regression.

Fitting uses scikit-learn; what is stored in model.pt is plain arrays (vocabulary, idf,
coefficients) applied by :class:`TextHead`, never a pickle. :meth:`CharTfidf.transform`
reproduces ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)``
exactly (tests/inference/test_text_model.py checks it against scikit-learn).

Late fusion with an image rung: ``softmax((1 - w) * log p_image + w * log p_text)``, the text
weight ``w`` chosen on validation (w = 0 is the image alone, w = 1 the text alone), per
condition: a cover whose words give the text head no known n-gram (no words read, or none the
train covers printed) gets the image alone (``NO_WORDS_WEIGHT``): its text answer is the
intercept, a constant class prior that says nothing about this cover, and fusing it only pulls
the image's answer towards the prior (on the shared covers it cost the silent covers up to 0.03
weighted F1 on one seed of three). The words weight is chosen on the val covers that have words.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import sparse

from sleeve.inference.estimators import text_model
from sleeve.inference.heads_runtime import softmax

NGRAMS = (3, 5)
MIN_DF = 2  # TfidfVectorizer's cut for callers that do not choose one
# covers an n-gram must be on to enter the vocabulary, chosen on val with C: 2 drops what one
# train cover printed (often OCR noise), 1 keeps it (often a name printed once). Val chose 1 on
# every split seed of the shared covers (benchmarks/text_rung.py); ties keep 2.
MIN_DF_GRID = (2, 1)
C_GRID = (1.0, 3.0, 10.0, 30.0)
WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))
_EPS = 1e-9
_DF_TOLERANCE = 1e-9  # weighted document frequencies are float sums (1/3 + 1/3 + 1/3)


def char_wb_ngrams(text: str, lo: int = NGRAMS[0], hi: int = NGRAMS[1]) -> list[str]:
    """scikit-learn's ``char_wb`` analyzer after lower-casing: n-grams inside space-padded words."""
    grams: list[str] = []
    for word in text.lower().split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            offset = 0
            grams.append(w[offset : offset + n])
            while offset + n < len(w):
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:  # a word shorter than n is counted once
                break
    return grams


@dataclass
class CharTfidf:
    vocab: list[str]  # term of each column
    idf: np.ndarray  # float64, one per column

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.vocab)}

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        min_df: int = MIN_DF,
        weight: Sequence[float] | np.ndarray | None = None,
    ) -> CharTfidf:
        """The vocabulary (terms on at least ``min_df`` rows) and smooth idf,
        ``ln((1 + n) / (1 + df)) + 1``. A term's df is the summed ``weight`` of the rows
        holding it and n the summed weight, so a cover entered as several rows whose weights
        sum to 1 (an ambiguous cover, one row per tied genre) counts as one cover. With unit
        weights this is ``TfidfVectorizer.fit`` exactly (tests/inference/test_text_model.py)."""
        w = np.ones(len(texts)) if weight is None else np.asarray(weight, dtype=np.float64)
        df: dict[str, float] = {}
        for text, wi in zip(texts, w, strict=True):
            for gram in set(char_wb_ngrams(text)):
                df[gram] = df.get(gram, 0.0) + float(wi)
        vocab = sorted(t for t, d in df.items() if d >= min_df - _DF_TOLERANCE)
        if not vocab:
            raise ValueError("no n-gram is on min_df rows: nothing to learn from")
        counts = np.array([df[t] for t in vocab], dtype=np.float64)
        return cls(vocab, np.log((1.0 + float(w.sum())) / (1.0 + counts)) + 1.0)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """(len(texts), len(vocab)): sublinear tf (1 + ln count) x idf, rows L2-normalised."""
        indptr, indices, values = [0], [], []
        for text in texts:
            counts = Counter(self._index[g] for g in char_wb_ngrams(text) if g in self._index)
            cols = sorted(counts)
            row = np.array(
                [(1.0 + math.log(counts[c])) * self.idf[c] for c in cols], dtype=np.float64
            )
            norm = float(np.sqrt((row**2).sum()))
            if norm > 0:
                row /= norm
            indices.extend(cols)
            values.extend(row.tolist())
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.array(values, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(self.vocab)),
        )


@dataclass
class TextHead:
    tfidf: CharTfidf
    coef: np.ndarray  # (n_classes, n_terms)
    intercept: np.ndarray  # (n_classes,)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        x = self.tfidf.transform(texts)
        return softmax(np.asarray(x @ self.coef.T) + self.intercept)

    def speaks(self, texts: Sequence[str]) -> np.ndarray:
        """Per text: does it hold any n-gram the head knows (else its answer is the prior)?"""
        return np.diff(self.tfidf.transform(texts).indptr) > 0

    def to_dict(self) -> dict:
        """Plain values and tensors only: loadable with ``torch.load(weights_only=True)``."""
        return {
            "type": "char-tfidf-linear",
            "ngram_range": list(NGRAMS),
            "vocab": list(self.tfidf.vocab),
            "idf": torch.from_numpy(self.tfidf.idf.astype(np.float64)),
            "coef": torch.from_numpy(self.coef.astype(np.float32)),
            "intercept": torch.from_numpy(self.intercept.astype(np.float64)),
        }

    @classmethod
    def from_dict(cls, d: dict) -> TextHead:
        if d.get("type") != "char-tfidf-linear" or tuple(d["ngram_range"]) != NGRAMS:
            raise ValueError(f"unknown text head {d.get('type')!r} {d.get('ngram_range')}")
        idf = _np(d["idf"]).astype(np.float64)
        return cls(
            CharTfidf(list(d["vocab"]), idf),
            _np(d["coef"]).astype(np.float64),
            _np(d["intercept"]).astype(np.float64),
        )

    @classmethod
    def from_logreg(cls, tfidf: CharTfidf, model: Any, n_classes: int) -> TextHead:
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: p(1) = sigmoid(z) = softmax([0, z])[1]
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.array([0.0, intercept[0]])
        full_coef = np.zeros((n_classes, coef.shape[1]))
        full_int = np.full(n_classes, -1e9)  # a class absent from train is never predicted
        full_coef[model.classes_] = coef
        full_int[model.classes_] = intercept
        return cls(tfidf, full_coef, full_int)


def _np(value: torch.Tensor | np.ndarray | list) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


@dataclass(frozen=True)
class TextSetting:
    """What is chosen on val for the text rung: the regression's C and the vocabulary's cut."""

    c: float
    min_df: int = MIN_DF


def fit_head(
    texts: Sequence[str],
    y: np.ndarray,
    setting: TextSetting,
    n_classes: int,
    seed: int = 0,
    weight: np.ndarray | None = None,
) -> TextHead:
    """TF-IDF on ``texts`` and the logistic regression on it, at ``setting``; ``weight``: per
    row (an ambiguous cover's tied genres share one cover's weight), None all 1."""
    tfidf = CharTfidf.fit(texts, setting.min_df, weight)
    model = text_model(setting.c, seed).fit(tfidf.transform(texts), y, sample_weight=weight)
    return TextHead.from_logreg(tfidf, model, n_classes)


@dataclass
class FittedText:
    head: TextHead  # fitted on the train covers (its val_probs choose the fusion weights)
    val_probs: np.ndarray
    params: dict
    train_seconds: float
    setting: TextSetting


def weighted_f1(y: np.ndarray, probs: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, probs.argmax(1), average="weighted", zero_division=0))


def fit_text(
    train_texts: Sequence[str],
    y_train: np.ndarray,
    val_texts: Sequence[str],
    y_val: np.ndarray,
    n_classes: int,
    *,
    seed: int = 0,
    min_dfs: Sequence[int] = MIN_DF_GRID,
    weight: np.ndarray | None = None,
) -> FittedText:
    """TF-IDF on the train covers' words, logistic regression; C and the vocabulary's cut
    (min_df) chosen on val. ``weight``: per train row, as :func:`fit_head`'s."""

    start = time.perf_counter()
    best: tuple[float, TextSetting, TextHead, np.ndarray] | None = None
    for min_df in min_dfs:
        try:
            tfidf = CharTfidf.fit(train_texts, min_df, weight)
        except ValueError:  # no n-gram on min_df train covers: this cut leaves nothing
            continue
        x_train, x_val = tfidf.transform(train_texts), tfidf.transform(val_texts)
        for c in C_GRID:
            model = text_model(c, seed).fit(x_train, y_train, sample_weight=weight)
            head = TextHead.from_logreg(tfidf, model, n_classes)
            probs = softmax(np.asarray(x_val @ head.coef.T) + head.intercept)
            score = weighted_f1(y_val, probs)
            # ties keep the earlier: the larger min_df, then the smaller C (more regularised)
            if best is None or score > best[0]:
                best = (score, TextSetting(c, min_df), head, probs)
    if best is None:
        raise ValueError("no n-gram of the train covers' words is left to learn from")
    score, setting, head, probs = best
    params = {
        "C": setting.c,
        "min_df": setting.min_df,
        "terms": len(head.tfidf.vocab),
        "ngram_range": list(NGRAMS),
    }
    return FittedText(head, probs, params, time.perf_counter() - start, setting)


NO_WORDS_WEIGHT = 0.0  # a cover the text head has nothing for: the image alone


def fuse(p_image: np.ndarray, p_text: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """Weighted log-probabilities, renormalised: ``weight`` is the text's share (one for all
    rows, or one per row)."""
    w = np.asarray(weight, dtype=np.float64)
    w = w[:, None] if w.ndim == 1 else w
    z = (1.0 - w) * np.log(p_image + _EPS) + w * np.log(p_text + _EPS)
    return softmax(z)


def row_weights(speaks: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """The text weight of each row by its condition (``weights``: words, no_words)."""
    return np.where(speaks, float(weights["words"]), float(weights["no_words"]))


def fuse_by_condition(
    p_image: np.ndarray, p_text: np.ndarray, speaks: np.ndarray, weights: dict[str, float]
) -> np.ndarray:
    """:func:`fuse` with each row's weight taken from its condition (:func:`row_weights`)."""
    return fuse(p_image, p_text, row_weights(speaks, weights))


def choose_weight(p_image: np.ndarray, p_text: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The text weight with the best weighted F1 on ``y`` (ties: the smaller weight)."""
    scored = [(weighted_f1(y, fuse(p_image, p_text, w)), w) for w in WEIGHT_GRID]
    best = max(scored, key=lambda t: (t[0], -t[1]))
    return best[1], best[0]


def choose_weights(
    p_image: np.ndarray, p_text: np.ndarray, y: np.ndarray, speaks: np.ndarray
) -> tuple[dict[str, float], float]:
    """Per-condition text weights: the words weight chosen on the rows whose words speak
    (:func:`choose_weight`), the image alone elsewhere; (weights, val weighted F1 of all rows)."""
    words = 0.0
    if speaks.any():
        words, _ = choose_weight(p_image[speaks], p_text[speaks], y[speaks])
    weights = {"words": words, "no_words": NO_WORDS_WEIGHT}
    return weights, weighted_f1(y, fuse_by_condition(p_image, p_text, speaks, weights))
