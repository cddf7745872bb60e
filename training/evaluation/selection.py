"""Which method a run ships: best on val, or by grouped cross-validation when val is small.

A small val split picks noisily (benchmarks/selection.py compares the choice by val and by
cross-validation on the shared covers; docs/results.md).
Below ``VAL_MIN_COVERS`` val covers the refittable
embedding heads (evaluation/grouped_cv.py) and the text rungs (``text``, ``fused``: their image
head and the words refitted per fold when that image head is refittable) are compared by
grouped, stratified 5-fold cross-validation over train+val (their settings as chosen on val;
test never enters), and the best mean fold weighted F1 wins. Heads that cannot be refitted per
fold (fine-tune, hybrid, CatBoost, projections, the val-built ensemble) are then left out, and
the record says so.
At or above the threshold the best val weighted F1 wins, as before.

Either way the record carries the selection's own noise: per method, the spread of its fold
scores (CV) or a bootstrap standard deviation of its val weighted F1 (val).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sleeve.inference.run_metrics import RunMetrics
from sleeve.training.config import VAL_MIN_COVERS
from sleeve.training.evaluation.cover_groups import manifest_groups
from sleeve.training.evaluation.grouped_cv import REFITTABLE, grouped_cv_scores
from sleeve.training.evaluation.headline import TEXT_RUNGS, head_params, summarise, text_rung_scores
from sleeve.training.evaluation.metrics import classification_metrics

if TYPE_CHECKING:
    from sleeve.training.data import Export
    from sleeve.training.fit.methods import MethodOutcome

BOOTSTRAP = 200


def val_bootstrap_std(y_val: np.ndarray, pred: np.ndarray, genres: list[str], seed: int) -> float:
    if len(y_val) == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(y_val), len(y_val))
        scores.append(classification_metrics(y_val[idx], pred[idx], genres)["weighted_f1"])
    return round(float(np.std(scores, ddof=1)), 4)


def choose(
    outcomes: list[MethodOutcome],
    x_trval: np.ndarray | None,
    y_trval: np.ndarray,
    groups: list[str],
    y_val: np.ndarray,
    genres: list[str],
    seed: int = 0,
    min_val: int = VAL_MIN_COVERS,
    texts: list[str] | None = None,
) -> tuple[MethodOutcome, dict]:
    """The shipped outcome and the ``model_selection`` block of metrics.json (``texts``: the
    train+val covers' words, rows as ``x_trval``, so the text rungs can be compared too)."""
    # ties go to the cheaper method (earlier in the ladder): max keeps the first
    val_best = max(outcomes, key=lambda o: o.val["weighted_f1"])
    block: dict = {"val_covers": len(y_val), "threshold": min_val}
    small = len(y_val) < min_val and x_trval is not None
    scores: dict[str, list[float]] = {}
    for o in outcomes if small else ():
        assert x_trval is not None
        if o.fitted.method in REFITTABLE:
            scores[o.fitted.method] = grouped_cv_scores(
                o.fitted.method, head_params(o), x_trval, y_trval, groups, genres, 1, seed
            )
        elif o.fitted.method in TEXT_RUNGS:
            found, _ = text_rung_scores(
                o, outcomes, x_trval, texts, y_trval, groups, genres, 1, seed
            )
            if found:
                scores[o.fitted.method] = found
    cheap = [o for o in outcomes if scores.get(o.fitted.method)]
    if not small or not cheap:
        block |= {
            "rule": "val",
            "detail": "best val weighted F1",
            "chosen": val_best.fitted.method,
            "per_method": {
                o.fitted.method: {
                    "val_weighted_f1": round(float(o.val["weighted_f1"]), 4),
                    "val_bootstrap_std": val_bootstrap_std(
                        y_val, o.fitted.val_probs.argmax(1), genres, seed
                    ),
                }
                for o in outcomes
            },
        }
        return val_best, block
    per = {o.fitted.method: summarise(scores[o.fitted.method]) for o in cheap}
    chosen = max(cheap, key=lambda o: per[o.fitted.method]["estimate"])
    block |= {
        "rule": "grouped-cv",
        "detail": f"val has fewer than {min_val} covers: mean weighted F1 over grouped "
        "stratified 5-fold cross-validation on train+val (test unseen)",
        "chosen": chosen.fitted.method,
        "val_choice": val_best.fitted.method,
        "per_method": per,
        "not_compared": [o.fitted.method for o in outcomes if o.fitted.method not in per],
    }
    return chosen, block


def choose_for_export(
    export: Export,
    feats: np.ndarray | None,
    outcomes: list[MethodOutcome],
    seed: int = 0,
    min_val: int = VAL_MIN_COVERS,
    texts: dict[str, str] | None = None,
) -> tuple[MethodOutcome, dict]:
    """:func:`choose` with train+val rows, labels and manifest groups taken from the export
    (``feats`` rows follow ``export.samples``; None when no embedding method ran; ``texts``:
    sha256 -> the cover's words, for the text rungs)."""
    keep = [i for i, s in enumerate(export.samples) if s.split in ("train", "val")]
    group_of = manifest_groups(export)
    groups = [group_of.get(export.samples[i].sha256, export.samples[i].sha256) for i in keep]
    y = np.array([export.samples[i].label for i in keep], dtype=np.int64)
    y_val = np.array([s.label for s in export.split("val")], dtype=np.int64)
    x = feats[keep] if feats is not None else None
    words = [texts.get(export.samples[i].sha256, "") for i in keep] if texts else None
    return choose(outcomes, x, y, groups, y_val, export.genres, seed, min_val, words)


def chosen_by(metrics: RunMetrics) -> str:
    """How the shipped method was chosen, for the report's sentences."""
    sel = metrics.model_selection or {}
    return "by grouped CV on train+val" if sel.get("rule") == "grouped-cv" else "on val"


def selection_lines(sel: dict | None) -> list[str]:
    """Markdown lines of metrics.json's model_selection block: the rule used and each compared
    method's score with its noise."""
    if not sel:
        return []
    lines = [
        f"Rule: {sel['detail']} (val has {sel['val_covers']} covers; threshold "
        f"{sel['threshold']}). Chosen: **{sel['chosen']}**."
    ]
    if sel["rule"] == "grouped-cv":
        lines[0] += f" Best on val alone would have been {sel['val_choice']}."
        for name, s in sel["per_method"].items():
            lines.append(
                f"- {name}: mean fold weighted F1 {s['estimate']:.3f} ± {s['std']:.3f} (sd over "
                f"{len(s['fold_scores'])} folds; range {s['interval'][0]:.3f}–"
                f"{s['interval'][1]:.3f})"
            )
        if sel.get("not_compared"):
            lines.append(
                f"- not refittable per fold, so not compared: {', '.join(sel['not_compared'])}"
            )
    else:
        for name, s in sel["per_method"].items():
            lines.append(
                f"- {name}: val weighted F1 {s['val_weighted_f1']:.3f} ± "
                f"{s['val_bootstrap_std']:.3f} (bootstrap sd over val covers)"
            )
    return lines
