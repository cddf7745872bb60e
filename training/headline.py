"""The figure a run leads with: grouped cross-validation of the chosen recipe over all covers.

One test split is a small sample: on the shared covers one 490-cover test split moves by about
±0.04 weighted F1 from seed to seed. So the headline refits the chosen head (its settings as
chosen on val) on cached embeddings in grouped, stratified 5-fold cross-validation (``REPEATS``)
over train+val+test (groups: the manifest's ``group_id``), and reports the mean of the fold
scores with the 2.5-97.5 % range of those scores beside the single test split's score.

The range is what one held-out fold (about a fifth of the covers) scores; it is wider than an
interval for the mean would be, on purpose: folds share most of their training covers, so a
mean ± 1.96·sd/√k interval would be too narrow. Heads that cannot be refitted cheaply
(fine-tune, hybrid, CatBoost, projections, the val-built ensemble) are represented by the
best refittable embedding head of the run, and ``headline.head`` says which.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from sleeve.training.grouped_cv import REFITTABLE, grouped_cv_scores
from sleeve.training.label_issues import manifest_groups

if TYPE_CHECKING:
    from sleeve.training.data import Export
    from sleeve.training.methods import MethodOutcome

log = logging.getLogger(__name__)
REPEATS = 1  # 5 refits: on the 3,808-d default stack features one SVC refit takes ~1 min
METHOD = (
    "grouped stratified 5-fold cross-validation (x repeats) over train+val+test (groups: "
    "manifest group_id), chosen head refitted per fold on cached embeddings with its settings "
    "chosen on val; estimate = mean fold weighted F1, interval = 2.5-97.5 % of fold scores"
)


def head_params(outcome: MethodOutcome) -> dict:
    return {k: v for k, v in outcome.fitted.params.items() if k != "val_weighted_f1"}


def representative(best: MethodOutcome, outcomes: list[MethodOutcome]) -> MethodOutcome | None:
    """The head to refit: the chosen one when cheap, else the ensemble's heaviest cheap
    member, else the best-on-val cheap head of the run (None when there is none)."""
    by_name = {o.fitted.method: o for o in outcomes}
    if best.fitted.method in REFITTABLE:
        return best
    members = best.fitted.params.get("members") if best.fitted.method == "ensemble" else None
    if isinstance(members, dict):
        for name, _ in sorted(members.items(), key=lambda kv: -kv[1]):
            if name in REFITTABLE and name in by_name:
                return by_name[name]
    cheap = [o for o in outcomes if o.fitted.method in REFITTABLE]
    return max(cheap, key=lambda o: o.val["weighted_f1"]) if cheap else None


def summarise(scores: list[float]) -> dict:
    arr = np.asarray(scores, dtype=float)
    return {
        "estimate": round(float(arr.mean()), 4),
        "interval": [
            round(float(np.percentile(arr, 2.5)), 4),
            round(float(np.percentile(arr, 97.5)), 4),
        ],
        "std": round(float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, 4),
        "fold_scores": [round(float(s), 4) for s in arr],
    }


def compute_headline(
    export: Export,
    feats: np.ndarray,
    best: MethodOutcome,
    outcomes: list[MethodOutcome],
    seed: int = 0,
    repeats: int = REPEATS,
) -> dict | None:
    """The ``headline`` block of metrics.json; None when no head can be refitted."""
    rep = representative(best, outcomes)
    if rep is None:
        return None
    group_of = manifest_groups(export)
    groups = [group_of.get(s.sha256, s.sha256) for s in export.samples]
    y = np.array([s.label for s in export.samples], dtype=np.int64)
    scores = grouped_cv_scores(
        rep.fitted.method, head_params(rep), feats, y, groups, export.genres, repeats, seed
    )
    if not scores:
        return None
    folds = len(scores) // max(1, repeats)
    block = {
        **summarise(scores),
        "n_folds": folds,
        "repeats": repeats,
        "covers": len(y),
        "method": METHOD,
        "chosen_method": best.fitted.method,
        "head": rep.fitted.method,
        "head_params": head_params(rep),
        "test_split_score": round(float(best.test["weighted_f1"]), 4),
    }
    log.info(
        "headline: %s weighted F1 %.3f (fold range %.3f-%.3f), test split %.3f",
        block["head"],
        block["estimate"],
        *block["interval"],
        block["test_split_score"],
    )
    return block


def headline_sentence(metrics: dict) -> str | None:
    """One line for report.md/html and the model card (None when the run has no headline)."""
    h = metrics.get("headline")
    if not h:
        return None
    via = "" if h["head"] == h["chosen_method"] else f" (refitted as its {h['head']} head)"
    return (
        f"Estimated weighted F1 of {h['chosen_method']}{via}: {h['estimate']:.3f} "
        f"(fold range {h['interval'][0]:.3f}–{h['interval'][1]:.3f}, {h['n_folds']}-fold "
        f"grouped cross-validation × {h['repeats']} over all {h['covers']} covers); "
        f"the single test split scored {h['test_split_score']:.3f}."
    )
