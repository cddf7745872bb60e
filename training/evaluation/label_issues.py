"""Covers whose label looks wrong: out-of-fold probabilities + confident learning (cleanlab).

Only train and val covers are scored: test covers never enter a review queue, so reviewing
cannot tune the dataset towards its own test split. Each cover's probabilities come from a
head that never saw it: grouped, stratified K-fold over train+val, folds keyed by the
manifest's ``group_id`` (duplicate group + artist + release), so a near-copy or the same
artist's other covers cannot vouch for a cover's label.

The head is a logistic regression on the run's cached embeddings (the run's feature recipe),
standardised and class-balanced; no network work. Confident learning needs calibrated
probabilities, so ``C`` is chosen on the out-of-fold log loss itself (ascending grid, stopping
once it rises; labels only, never test): on the 2,741 shared train/val covers a fixed
``C=0.05`` gave log loss 2.69 (worse than the 1.61 of guessing) and flagged 59 % of the
covers (4 clear mistakes in its top 100, checked by eye), ``C=0.0005`` log loss 1.44, 41 %
flagged and 9 mistakes in the top 100. With a weak classifier cleanlab still flags many
covers: the rank is what a reviewer should follow. cleanlab's ``find_label_issues``
(prune by noise rate over the confident joint) flags the suspects;
``get_label_quality_scores`` (self-confidence: the out-of-fold probability of the given
label) ranks them.

``label_issues.csv``: every train/val cover, most suspect first: rank, sha256, path, split,
given_genre, suggested_genre (the out-of-fold argmax), label_quality, is_label_issue (1/0),
then ``p.<genre>`` for each genre.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleeve.inference.estimators import logreg_model
from sleeve.inference.rundir import LABEL_ISSUES, Run
from sleeve.training.data import Export

log = logging.getLogger(__name__)

FOLDS = 5
C_GRID = (0.0001, 0.0005, 0.002, 0.01, 0.05)  # ascending: stronger regularisation first


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
    c: float  # the logistic regression's C, chosen on out-of-fold log loss

    def order(self) -> np.ndarray:
        """Most suspect first: flagged covers, then by quality (lowest first), then sha256."""
        return np.array(
            sorted(
                range(len(self.shas)),
                key=lambda i: (not self.is_issue[i], self.quality[i], self.shas[i]),
            ),
            dtype=np.int64,
        )


def manifest_groups(export: Export) -> dict[str, str]:
    """sha256 -> group_id from the export's manifest (a cover is its own group without one)."""
    return {r.sha256: r.group_id or r.sha256 for r in export.dataset.rows}


def fold_of(y: np.ndarray, groups: list[str], n_classes: int, seed: int = 0) -> np.ndarray:
    """Fold index per row: grouped (a group sits in one fold) and stratified by label."""
    from sklearn.model_selection import StratifiedGroupKFold

    smallest = int(np.bincount(y, minlength=n_classes)[np.unique(y)].min())
    folds = max(2, min(FOLDS, smallest, len(set(groups))))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = np.full(len(y), -1, dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
        out[held] = k
    return out


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


def find_label_issues(export: Export, feats: np.ndarray, seed: int = 0) -> LabelIssues:
    """``feats`` rows follow ``export.samples`` (as :func:`cached_embeddings` returns them)."""
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores

    keep = [i for i, s in enumerate(export.samples) if s.split in ("train", "val")]
    samples = [export.samples[i] for i in keep]
    x = feats[keep]
    y = np.array([s.label for s in samples], dtype=np.int64)
    group_of = manifest_groups(export)
    groups = [group_of.get(s.sha256, s.sha256) for s in samples]
    probs, folds, c = out_of_fold_probabilities(x, y, groups, len(export.genres), seed)
    quality = get_label_quality_scores(y, probs, method="self_confidence")
    present = np.unique(y)
    if len(present) == len(export.genres):
        is_issue = cl_find(y, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    else:  # cleanlab needs every class among the labels; fall back to the plain argmax rule
        is_issue = probs.argmax(1) != y
    return LabelIssues(
        shas=[s.sha256 for s in samples],
        paths=[str(s.path) for s in samples],
        splits=[s.split for s in samples],
        labels=y,
        probs=probs,
        quality=np.asarray(quality, dtype=float),
        is_issue=np.asarray(is_issue, dtype=bool),
        folds=folds,
        c=c,
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
)


def render_label_issues(issues: LabelIssues, genres: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*COLUMNS, *(f"p.{g}" for g in genres)])
    for rank, i in enumerate(issues.order(), start=1):
        writer.writerow(
            [
                rank,
                issues.shas[i],
                issues.paths[i],
                issues.splits[i],
                genres[int(issues.labels[i])],
                genres[int(issues.probs[i].argmax())],
                f"{issues.quality[i]:.6g}",
                int(issues.is_issue[i]),
                *(f"{v:.6g}" for v in issues.probs[i]),
            ]
        )
    return buf.getvalue()


def write_label_issues(run_dir: Path, export: Export, feats: np.ndarray, seed: int = 0) -> dict:
    """Write ``label_issues.csv`` into the run; returns a summary for metrics/logs."""
    issues = find_label_issues(export, feats, seed)
    Run(Path(run_dir)).write(LABEL_ISSUES, render_label_issues(issues, export.genres))
    summary = {
        "covers_scored": len(issues.shas),
        "flagged": int(issues.is_issue.sum()),
        "folds": issues.folds,
        "C": issues.c,
        "method": "cleanlab find_label_issues (prune_by_noise_rate) on out-of-fold logistic "
        "regression probabilities, grouped stratified K-fold over train+val; ranked by "
        "self-confidence",
    }
    log.info("label issues: %(flagged)d of %(covers_scored)d train/val covers flagged", summary)
    return summary
