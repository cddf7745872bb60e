"""Text rungs: the words printed on the cover (the export's text.jsonl) as evidence.

- ``text``: character n-gram TF-IDF + logistic regression on the OCR words alone.
- ``fused``: the best image rung (on val) and the text rung, log-probabilities weighted with the
  text weight chosen on val per condition: covers whose words the text head has nothing for
  (no words read, no known n-gram) get the image alone (sleeve/inference/text_head.py); then
  the artist table's term on covers whose words name one of its artists
  (sleeve/inference/artist_table.py, training/fit/artists.py).

Both are stored as the image rung's model.pt plus a ``text`` block (the text head as plain
arrays and the weight; ``text`` has weight 1), so ``Classifier`` reads a new cover's words and
applies the same fusion.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from sleeve.core.errors import ConfigError
from sleeve.core.vision.samples import decode
from sleeve.dataset.text.cover_text import TEXT_TABLE
from sleeve.dataset.text.ocr import ENGINE, INSTALL_HINT, engine_version, read_words, words_text
from sleeve.inference.artist_table import ArtistTable
from sleeve.inference.text_head import choose_weights, fit_head, fit_text, fuse_by_condition
from sleeve.training.config import DEFAULT_METHODS, TrainConfig
from sleeve.training.data import Export, extra_text_rows
from sleeve.training.fit.artists import fit_artists
from sleeve.training.fit.methods import FittedHead, MethodOutcome, RungContext

TEXT_METHODS = ("text", "fused")
log = logging.getLogger(__name__)


def export_texts(export: Export) -> dict[str, str] | None:
    """sha256 -> the cover's words as one string, or None when the export has no text table."""
    table = export.dataset.word_table  # the export's text.jsonl, read by its owner
    if not table:
        return None
    return {sha: words_text(words) for sha, words in table.items()}


def ocr_seconds(export: Export, n: int = 8) -> float:
    """Seconds per cover to read its words, measured on a few test covers."""
    probe = export.split("test")[:n]
    if probe:
        read_words(decode(probe[0].source()))  # loading the models once is not per-cover cost
    start = time.perf_counter()
    for s in probe:
        read_words(decode(s.source()))
    return (time.perf_counter() - start) / max(1, len(probe))


def text_block(
    head_dict: dict,
    weights: dict[str, float],
    image_method: str,
    artists: ArtistTable | None = None,
) -> dict:
    """What model.pt's ``text`` entry holds (plain values and tensors only): ``weights`` per
    condition (words, no_words); ``weight``, the words weight, for readers of older models;
    ``artists``, the fused rung's artist table when it has artists and a weight above 0."""
    block = {
        "engine": ENGINE,
        "engine_version": engine_version() or "",
        "weight": float(weights["words"]),
        "weights": {k: float(v) for k, v in weights.items()},
        "image_method": image_method,
        "head": head_dict,
    }
    if artists is not None and len(artists) and artists.weight > 0:
        block["artists"] = artists.to_dict()
    return block


def words_problem(texts: dict[str, str] | None) -> str | None:
    """Why the text rungs cannot run (no text table, no OCR engine), or None."""
    if texts is None:
        return (
            f"the export has no {TEXT_TABLE}: build it with the OCR extra installed "
            f"({INSTALL_HINT}), then run build-dataset again"
        )
    if engine_version() is None:
        return f"the text rungs read new covers' words: {INSTALL_HINT}"
    return None


def require_words(export: Export) -> None:
    """The default recipe reads the words on the covers: refuse before any work rather than
    ship another recipe silently (an image-only --method or --quick runs without them)."""
    problem = words_problem(export_texts(export))
    if problem is not None:
        raise ConfigError(
            f"the default recipe (svc, text, fused) needs the words on the covers: {problem} "
            "(or choose an image-only recipe, e.g. --method svc)"
        )


def run_text_methods(
    export: Export, wanted: tuple[str, ...], image_outcomes: list, seed: int, asked: bool
) -> list:
    """The text rungs' outcomes (``image_outcomes``: the image rungs, already fitted).

    ``asked``: the rungs were named on the command line, so a missing prerequisite is an
    error; in the default ladder they are skipped quietly instead."""
    texts = export_texts(export)
    problem = words_problem(texts)
    if problem is None and not image_outcomes:
        problem = "the text rungs need an image rung too, e.g. --method svc,text,fused"
    fitted, extra = None, None
    if problem is None:
        assert texts is not None
        split_texts = {
            sp: [texts.get(s.sha256, "") for s in export.split(sp)]
            for sp in ("train", "val", "test")
        }
        y = {sp: np.array([s.label for s in export.split(sp)]) for sp in ("train", "val", "test")}
        extra = extra_text_rows(export)
        fit_w = np.concatenate([np.ones(len(y["train"])), extra.weight])
        try:
            fitted = fit_text(
                split_texts["train"] + extra.texts,
                np.concatenate([y["train"], extra.y]),
                split_texts["val"],
                y["val"],
                len(export.genres),
                seed=seed,
                weight=fit_w,
            )
        except ValueError as exc:  # e.g. no n-gram on two train covers: nothing to learn
            problem = f"the train covers' words give the text rung nothing to learn ({exc})"
    if problem is not None:
        if asked:
            raise ConfigError(problem)
        log.warning("text rungs skipped: %s", problem)
        return []
    assert fitted is not None and texts is not None and extra is not None
    by_split = split_texts
    # settings and fusion weights are chosen on val with the train-only head; the head that
    # ships (and answers test) is refitted on train + val at those settings: the val covers'
    # words are a fifth more evidence, artist names above all (benchmarks/text_rung.py)
    refit_start = time.perf_counter()
    shipped = fit_head(
        split_texts["train"] + extra.texts + split_texts["val"],
        np.concatenate([y["train"], extra.y, y["val"]]),
        fitted.setting,
        len(export.genres),
        seed,
        np.concatenate([fit_w, np.ones(len(y["val"]))]),
    )
    fit_seconds = fitted.train_seconds + time.perf_counter() - refit_start
    text_test = shipped.probabilities(by_split["test"])
    image = max(image_outcomes, key=lambda o: o.val["weighted_f1"])
    read_s = ocr_seconds(export)
    image_s = 1.0 / max(image.images_per_second, 1e-9)
    ips = 1.0 / (image_s + read_s)
    head_dict = shipped.to_dict()
    share = sum(1 for t in texts.values() if t) / max(1, len(texts))
    common = {
        **fitted.params,
        "terms": len(shipped.tfidf.vocab),
        "refit_on": "train+val",
        "extra_train_covers": extra.covers,
        "covers_with_text": round(share, 3),
        "image_method": image.fitted.method,
    }
    out = []
    if "text" in wanted:
        alone = {"words": 1.0, "no_words": 1.0}
        payload = _with_text(image.payload, "text", head_dict, alone, image.fitted.method)
        out.append(
            MethodOutcome(
                FittedHead("text", {}, fitted.val_probs, common, fit_seconds),
                text_test,
                ips,
                payload,
            )
        )
    if "fused" in wanted:
        speaks = {
            "val": fitted.head.speaks(by_split["val"]),
            "test": shipped.speaks(by_split["test"]),
        }
        weights, _ = choose_weights(
            image.fitted.val_probs, fitted.val_probs, y["val"], speaks["val"]
        )
        # the artist table's term on top of the fused answer (training/fit/artists.py)
        artists = fit_artists(
            export,
            fuse_by_condition(image.fitted.val_probs, fitted.val_probs, speaks["val"], weights),
            fuse_by_condition(image.test_probs, text_test, speaks["test"], weights),
            y["val"],
        )
        params = {
            **common,
            "text_weight": weights["words"],
            "text_weights": weights,
            "val_covers_without_words": int((~speaks["val"]).sum()),
            "artist_weight": artists.table.weight,
            "artists": len(artists.table),
        }
        payload = _with_text(
            image.payload, "fused", head_dict, weights, image.fitted.method, artists.table
        )
        out.append(
            MethodOutcome(
                FittedHead(
                    "fused",
                    {},
                    artists.val_probs,
                    params,
                    fit_seconds + image.fitted.train_seconds,
                ),
                artists.test_probs,
                ips,
                payload,
                artist_table=artists.metrics,
            )
        )
    return out


def _with_text(
    payload: dict,
    method: str,
    head: dict,
    weights: dict[str, float],
    image_method: str,
    artists: ArtistTable | None = None,
) -> dict:
    block = text_block(head, weights, image_method, artists)
    return {**payload, "method": method, "text": block}


class TextRung:
    """The words on the cover (text) and their late fusion with the best image rung (fused)."""

    names = TEXT_METHODS

    def wanted(self, config: TrainConfig) -> bool:
        return any(m in self.names for m in config.methods)

    def fit(self, ctx: RungContext) -> list[MethodOutcome]:
        methods = tuple(ctx.config.methods)
        wanted = tuple(m for m in methods if m in TEXT_METHODS)
        # the quick ladder reads the words when it can; the default recipe was checked before
        # any work (require_words), a named text rung must run
        asked = methods != DEFAULT_METHODS
        return run_text_methods(ctx.export, wanted, ctx.outcomes, ctx.config.seed, asked)
