"""Covers whose label looks wrong: the shipped model's out-of-fold probabilities.

Only train and val covers are scored: test covers never enter a review queue, so reviewing
cannot tune the dataset towards its own test split. Each cover's probabilities come from the
shipped rung (the fused image + words model by default) refitted with its settings on the other
folds: grouped, stratified K-fold over train+val, grouped as the headline is (manifest group,
artist key, look-alike artwork: training/evaluation/cover_groups.py), so a near-copy or the
same artist's other covers cannot vouch for a cover's label. A shipped rung that cannot be
refitted per fold
(fine-tune, hybrid, ...) is stood in for by a logistic regression on the run's embeddings, ``C``
chosen on the out-of-fold log loss.

A cover is flagged only when its given genre is improbable (p(given) < ``improbable``) and
another genre is confidently suggested (max p(other) >= ``confident``). Confident learning
(cleanlab's rule, used before) flagged a large share of the shared train/val covers, mostly
right labels the model gets wrong: no queue a person finishes. The two thresholds are measured
on the run's own covers (:func:`measure_thresholds`): every cover is given a planted wrong
genre, and the pair that flags the most planted mistakes while flagging at most ``MAX_QUEUE``
of the covers as labelled wins. (The out-of-fold probabilities were fitted on the true labels,
so a planted flip is seen as a single mislabel among clean neighbours.) Covers are ranked
flagged first, then by p(given), lowest first.

``label_issues.csv``: every train/val cover, most suspect first: rank, sha256, path, split,
given_genre, suggested_genre (the out-of-fold argmax), label_quality (p(given)),
is_label_issue (1/0), words (as read), artist (the recognised artist and its source), then
``p.<genre>`` for each genre.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sleeve.core import csvfile
from sleeve.inference.estimators import logreg_model
from sleeve.inference.rundir import LABEL_ISSUES, Run
from sleeve.training.data import Export, extra_text_rows
from sleeve.training.evaluation.cover_groups import (
    artist_keys,
    artist_names,
    fold_groups,
    fold_of,
    manifest_groups,
)
from sleeve.training.evaluation.headline import shipped_oof_probabilities

if TYPE_CHECKING:
    from sleeve.training.fit.methods import MethodOutcome

__all__ = ["fold_of", "manifest_groups"]  # where the review queue's callers found them

log = logging.getLogger(__name__)

C_GRID = (0.0001, 0.0005, 0.002, 0.01, 0.05)  # ascending: stronger regularisation first
MAX_QUEUE = 0.05  # share of the train/val covers the default queue may hold
IMPROBABLE_GRID = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
CONFIDENT_GRID = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TEMPERATURES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def calibrated(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """``probs`` at the temperature with the lowest out-of-fold log loss (the argmax is kept):
    a refitted head can be over-confident, and the thresholds read probabilities."""
    logp = np.log(np.maximum(probs, 1e-12))
    best: tuple[float, float, np.ndarray] | None = None
    for t in TEMPERATURES:
        z = logp / t
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        loss = float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())
        if best is None or loss < best[0]:
            best = (loss, t, p)
    assert best is not None
    return best[2], best[1]


@dataclass
class LabelIssues:
    shas: list[str]
    paths: list[str]
    splits: list[str]
    labels: np.ndarray
    probs: np.ndarray  # out-of-fold, rows aligned with shas
    quality: np.ndarray
    is_issue: np.ndarray  # bool
    folds: int
    c: float | None  # the stand-in logistic regression's C (None: the shipped rung refitted)
    thresholds: dict  # improbable, confident and what they were measured to flag
    words: list[str]
    artists: list[str]  # "name (source)" or ""
    scorer: str = "shipped"  # the shipped rung's name, or "logreg" (the stand-in)

    def order(self) -> np.ndarray:
        """Most suspect first: flagged covers, then by quality (lowest first), then sha256."""
        return np.array(
            sorted(
                range(len(self.shas)),
                key=lambda i: (not self.is_issue[i], self.quality[i], self.shas[i]),
            ),
            dtype=np.int64,
        )


def out_of_fold_probabilities(
    x: np.ndarray,
    y: np.ndarray,
    groups: list[str],
    n_classes: int,
    seed: int = 0,
    c_grid: tuple[float, ...] = C_GRID,
) -> tuple[np.ndarray, int, float]:
    """Probabilities for each row from heads fitted on the other folds, at the ``C`` of
    ``c_grid`` with the lowest out-of-fold log loss; (probs, folds used, C)."""
    fold = fold_of(y, groups, n_classes, seed)
    best: tuple[float, np.ndarray, float] | None = None
    for c in c_grid:
        probs = _fold_probabilities(x, y, fold, n_classes, c, seed)
        loss = float(-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12)).mean())
        if best is not None and loss >= best[0]:
            break  # log loss is past its minimum along the grid
        best = (loss, probs, c)
    assert best is not None
    log.info("label issues: C=%g, out-of-fold log loss %.3f", best[2], best[0])
    return best[1], int(fold.max()) + 1, best[2]


def _fold_probabilities(
    x: np.ndarray, y: np.ndarray, fold: np.ndarray, n_classes: int, c: float, seed: int
) -> np.ndarray:

    probs = np.zeros((len(y), n_classes))
    for k in range(int(fold.max()) + 1):
        fit_idx, held_idx = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        mean, scale = x[fit_idx].mean(0), x[fit_idx].std(0)
        scale = np.where(scale > 1e-8, scale, 1.0)
        model = logreg_model(c, seed)
        model.fit((x[fit_idx] - mean) / scale, y[fit_idx])
        part = model.predict_proba((x[held_idx] - mean) / scale)
        probs[np.ix_(held_idx, model.classes_)] = part
    return probs


def flags(probs: np.ndarray, given: np.ndarray, improbable: float, confident: float) -> np.ndarray:
    """Covers whose given genre is improbable and another genre confidently suggested."""
    rows = np.arange(len(given))
    p_given = probs[rows, given]
    other = probs.copy()
    other[rows, given] = -1.0
    return (p_given < improbable) & (other.max(1) >= confident)


def measure_thresholds(probs: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0) -> dict:
    """The (improbable, confident) pair that flags the most planted mistakes (each cover given
    a random wrong genre) among those flagging at most ``MAX_QUEUE`` of the covers as labelled;
    ties: the smaller queue, then the stricter pair."""
    rng = np.random.default_rng(seed)
    planted = (y + rng.integers(1, max(2, n_classes), len(y))) % max(2, n_classes)
    best: tuple | None = None
    for a in IMPROBABLE_GRID:
        for b in CONFIDENT_GRID:
            queue = float(flags(probs, y, a, b).mean()) if len(y) else 0.0
            if queue > MAX_QUEUE:
                continue
            caught = float(flags(probs, planted, a, b).mean()) if len(y) else 0.0
            key = (caught, -queue, -a, b)
            if best is None or key > best[0]:
                best = (key, a, b, queue, caught)
    if best is None:  # no pair keeps the queue small: the strictest one, capped in flag_queue
        a, b = IMPROBABLE_GRID[0], CONFIDENT_GRID[-1]
        queue, caught = float(flags(probs, y, a, b).mean()), 0.0
    else:
        _, a, b, queue, caught = best
    return {
        "improbable": a,
        "confident": b,
        "queue_share": round(queue, 4),
        "planted_mistakes_caught": round(caught, 4),
        "max_queue": MAX_QUEUE,
        "how": "planted label flips on the run's train/val covers: the pair catching the most "
        f"planted mistakes among those flagging <= {MAX_QUEUE:.0%} of the covers as labelled",
    }


def flag_queue(probs: np.ndarray, y: np.ndarray, thresholds: dict) -> np.ndarray:
    """:func:`flags` at the measured thresholds, at most ``MAX_QUEUE`` of the covers (the
    least probable given genres first) even when no measured pair kept the queue that small."""
    flagged = flags(probs, y, thresholds["improbable"], thresholds["confident"])
    cap = int(MAX_QUEUE * len(y))
    if flagged.sum() > cap:
        p_given = probs[np.arange(len(y)), y]
        order = [i for i in np.argsort(p_given, kind="stable") if flagged[i]]
        flagged = np.zeros_like(flagged)
        flagged[order[:cap]] = True
    return flagged


def find_label_issues(
    export: Export,
    feats: np.ndarray,
    seed: int = 0,
    best: MethodOutcome | None = None,
    outcomes: list[MethodOutcome] | None = None,
    texts: dict[str, str] | None = None,
) -> LabelIssues:
    """``feats`` rows follow ``export.samples`` (as :func:`cached_embeddings` returns them);
    ``best``/``outcomes``: the run's shipped rung and its ladder (the rung refitted per fold);
    ``texts``: sha256 -> the cover's words."""
    keep = [i for i, s in enumerate(export.samples) if s.split in ("train", "val")]
    samples = [export.samples[i] for i in keep]
    x = feats[keep]
    y = np.array([s.label for s in samples], dtype=np.int64)
    all_groups, _ = fold_groups(export, feats)
    groups = [all_groups[i] for i in keep]
    n = len(export.genres)
    words = [texts.get(s.sha256, "") if texts else "" for s in samples]
    probs, c, scorer = None, None, "logreg"
    fold = fold_of(y, groups, n, seed)
    folds = int(fold.max()) + 1
    if best is not None:
        artists = artist_keys(export)
        probs = shipped_oof_probabilities(
            best, outcomes or [], x, words if texts else None, y, fold, n, seed,
            extra_text_rows(export), [artists[i] for i in keep],
        )  # fmt: skip
        scorer = best.fitted.method
    if probs is None:
        probs, folds, c = out_of_fold_probabilities(x, y, groups, n, seed)
        scorer = "logreg"
    probs, temperature = calibrated(probs, y)
    thresholds = {**measure_thresholds(probs, y, n, seed), "temperature": temperature}
    is_issue = flag_queue(probs, y, thresholds)
    names = artist_names(export)
    return LabelIssues(
        shas=[s.sha256 for s in samples],
        paths=[str(s.path) for s in samples],
        splits=[s.split for s in samples],
        labels=y,
        probs=probs,
        quality=probs[np.arange(len(y)), y],
        is_issue=is_issue,
        folds=folds,
        c=c,
        thresholds=thresholds,
        words=words,
        artists=[names.get(s.sha256, "") for s in samples],
        scorer=scorer,
    )


COLUMNS = (
    "rank",
    "sha256",
    "path",
    "split",
    "given_genre",
    "suggested_genre",
    "label_quality",
    "is_label_issue",
    "words",
    "artist",
)


def render_label_issues(issues: LabelIssues, genres: list[str]) -> str:
    rows = []
    for rank, i in enumerate(issues.order(), start=1):
        rows.append(
            [
                rank,
                issues.shas[i],
                issues.paths[i],
                issues.splits[i],
                genres[int(issues.labels[i])],
                genres[int(issues.probs[i].argmax())],
                f"{issues.quality[i]:.6g}",
                int(issues.is_issue[i]),
                issues.words[i],
                issues.artists[i],
                *(f"{v:.6g}" for v in issues.probs[i]),
            ]
        )
    return csvfile.render([*COLUMNS, *(f"p.{g}" for g in genres)], rows)


def write_label_issues(
    run_dir: Path,
    export: Export,
    feats: np.ndarray,
    seed: int = 0,
    best: MethodOutcome | None = None,
    outcomes: list[MethodOutcome] | None = None,
    texts: dict[str, str] | None = None,
) -> dict:
    """Write ``label_issues.csv`` into the run; returns a summary for metrics/logs."""
    issues = find_label_issues(export, feats, seed, best, outcomes, texts)
    Run(Path(run_dir)).write(LABEL_ISSUES, render_label_issues(issues, export.genres))
    summary = {
        "covers_scored": len(issues.shas),
        "flagged": int(issues.is_issue.sum()),
        "folds": issues.folds,
        "scorer": issues.scorer,
        "C": issues.c,
        "thresholds": issues.thresholds,
        "method": f"out-of-fold probabilities of {issues.scorer} refitted per fold (grouped "
        "stratified K-fold over train+val, grouped by manifest group, artist key and look-alike "
        "artwork); flagged when p(given) < improbable and max p(other) >= confident; ranked by "
        "p(given)",
    }
    log.info("label issues: %(flagged)d of %(covers_scored)d train/val covers flagged", summary)
    return summary
