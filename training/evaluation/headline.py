"""The figure a run leads with: grouped cross-validation of the chosen recipe over all covers.

One test split is a small sample: on the shared covers its weighted F1 moves from split seed to
seed by as much as the gaps between rungs (docs/results.md).
So the headline refits the chosen head (its settings as
chosen on val) on cached embeddings in grouped, stratified 5-fold cross-validation (``REPEATS``)
over train+val+test, and reports the mean of the fold scores with the 2.5-97.5 % range of
those scores beside the single test split's score. The folds are grouped by the manifest's
``group_id``, the artist key (credited or named by the words) and look-alike artwork
(training/evaluation/cover_groups.py), so the estimate is of covers by artists the fold never
trained on, as new covers are; beside it stands the test split's figure on covers whose
artist train lacks.

The range is what one held-out fold (about a fifth of the covers) scores; it is wider than an
interval for the mean would be, on purpose: folds share most of their training covers, so a
mean ± 1.96·sd/√k interval would be too narrow. The late-fused rung is refitted
whole: its image head and its text rung per fold, fused with the run's text weight. Heads that
cannot be refitted cheaply (fine-tune, hybrid, CatBoost, projections, the val-built ensemble, a
fused rung over one of those) are represented by the best refittable embedding head of the run,
and ``headline.head`` says which.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from sleeve.inference.run_metrics import RunMetrics
from sleeve.inference.text_head import MIN_DF, TextSetting, weighted_f1
from sleeve.training.data import ExtraRows, extra_text_rows
from sleeve.training.evaluation.artist_split import artist_kinds
from sleeve.training.evaluation.cover_groups import artist_keys, fold_groups
from sleeve.training.evaluation.grouped_cv import (
    REFITTABLE,
    fused_cv_scores,
    fused_oof_probabilities,
    grouped_cv_scores,
    image_oof_probabilities,
)

if TYPE_CHECKING:
    from sleeve.training.data import Export
    from sleeve.training.fit.methods import MethodOutcome

log = logging.getLogger(__name__)
REPEATS = 1  # 5 refits: on the 3,808-d default stack features one SVC refit takes ~1 min
METHOD = (
    "grouped stratified 5-fold cross-validation (x repeats) over train+val+test (groups: "
    "manifest group_id joined with the artist key and look-alike embeddings), chosen head "
    "refitted per fold on cached embeddings with its settings chosen on val; estimate = mean "
    "fold weighted F1, interval = 2.5-97.5 % of fold scores"
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


TEXT_RUNGS = ("text", "fused")  # refitted whole: their image head and the words, per fold


def text_weights(outcome: MethodOutcome) -> dict[str, float]:
    """The rung's text weight per condition (``text``: the words alone, 1 everywhere)."""
    if outcome.fitted.method == "text":
        return {"words": 1.0, "no_words": 1.0}
    params = outcome.fitted.params
    w = float(params["text_weight"])
    return dict(params.get("text_weights") or {"words": w, "no_words": w})


def text_setting(params: dict) -> TextSetting:
    """The text rung's settings as chosen on val (a run before min_df was chosen used 2)."""
    return TextSetting(float(params["C"]), int(params.get("min_df", MIN_DF)))


def text_rung_scores(
    outcome: MethodOutcome,
    outcomes: list[MethodOutcome],
    x: np.ndarray,
    texts: list[str] | None,
    y: np.ndarray,
    groups: list[str],
    genres: list[str],
    repeats: int = 1,
    seed: int = 0,
    extra: ExtraRows | None = None,
    artists: list[str] | None = None,
) -> tuple[list[float], dict]:
    """Fold scores of a ``text``/``fused`` rung refitted whole (its image head and the words
    per fold, fused with the run's text weight; ``text`` is weight 1), rows of ``x`` and
    ``texts`` aligned; ([], {}) when it cannot be (another rung, no words, or an image head
    that is not refittable)."""
    params = outcome.fitted.params
    image = next((o for o in outcomes if o.fitted.method == params.get("image_method")), None)
    if outcome.fitted.method not in TEXT_RUNGS or texts is None or image is None:
        return [], {}
    if image.fitted.method not in REFITTABLE:
        return [], {}
    weights = text_weights(outcome)
    info = {
        "image_method": image.fitted.method,
        "image_params": head_params(image),
        "text_C": params["C"],
        "text_min_df": text_setting(params).min_df,
        "text_weights": weights,
    }
    try:
        scores = fused_cv_scores(
            image.fitted.method, info["image_params"],
            float(image.fitted.head.get("temperature", 1.0)), text_setting(params), weights,
            x, texts, y, groups, genres, repeats, seed, extra, artists,
        )  # fmt: skip
    except ValueError as exc:  # a fold whose words give TF-IDF nothing
        log.warning("%s cannot be refitted per fold (%s)", outcome.fitted.method, exc)
        return [], {}
    return scores, info


def shipped_oof_probabilities(
    best: MethodOutcome,
    outcomes: list[MethodOutcome],
    x: np.ndarray,
    texts: list[str] | None,
    y: np.ndarray,
    fold: np.ndarray,
    n_classes: int,
    seed: int = 0,
    extra: ExtraRows | None = None,
    artists: list[str] | None = None,
) -> np.ndarray | None:
    """Out-of-fold probabilities of the shipped rung refitted per fold with its settings (the
    text rungs with their image head, words and extra rows: grouped_cv), or None when it
    cannot be refitted."""
    params = best.fitted.params
    if best.fitted.method in REFITTABLE:
        t = float(best.fitted.head.get("temperature", 1.0))
        return image_oof_probabilities(
            best.fitted.method, head_params(best), t, x, y, fold, n_classes, seed
        )
    image = next((o for o in outcomes if o.fitted.method == params.get("image_method")), None)
    if best.fitted.method not in TEXT_RUNGS or texts is None or image is None:
        return None
    if image.fitted.method not in REFITTABLE:
        return None
    try:
        return fused_oof_probabilities(
            image.fitted.method, head_params(image),
            float(image.fitted.head.get("temperature", 1.0)), text_setting(params),
            text_weights(best), x, texts, y, fold, n_classes, seed, extra, artists,
        )  # fmt: skip
    except ValueError as exc:  # a fold whose words give TF-IDF nothing
        log.warning("%s cannot be refitted per fold (%s)", best.fitted.method, exc)
        return None


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
    texts: dict[str, str] | None = None,
) -> dict | None:
    """The ``headline`` block of metrics.json; None when no head can be refitted. ``texts``
    (sha256 -> the cover's words, the export's text.jsonl) lets a text/fused rung be refitted."""
    groups, grouping = fold_groups(export, feats)
    y = np.array([s.label for s in export.samples], dtype=np.int64)
    cover_texts = [texts.get(s.sha256, "") for s in export.samples] if texts else None
    scores, params = text_rung_scores(
        best, outcomes, feats, cover_texts, y, groups, export.genres, repeats, seed,
        extra_text_rows(export), artist_keys(export),
    )  # fmt: skip
    head = best.fitted.method
    if not scores:
        rep = representative(best, outcomes)
        if rep is None:
            return None
        head, params = rep.fitted.method, head_params(rep)
        scores = grouped_cv_scores(head, params, feats, y, groups, export.genres, repeats, seed)
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
        "head": head,
        "head_params": params,
        "grouping": grouping,
        "test_split_score": round(float(best.test["weighted_f1"]), 4),
    }
    lo, hi = block["interval"]
    block["test_split_inside_range"] = bool(lo <= block["test_split_score"] <= hi)
    block |= new_artist_score(export, best)
    log.info(
        "headline: %s weighted F1 %.3f (fold range %.3f-%.3f), test split %.3f",
        block["head"],
        block["estimate"],
        *block["interval"],
        block["test_split_score"],
    )
    return block


def new_artist_score(export: Export, best: MethodOutcome) -> dict:
    """The chosen method's test weighted F1 on covers whose artist is absent from train (an
    artist train lacks, or none known); {} without the export's artists.csv."""
    kinds = artist_kinds(export)
    if kinds is None:
        return {}
    new = kinds != "seen"
    y = np.array([s.label for s in export.split("test")], dtype=np.int64)
    score = weighted_f1(y[new], best.test_probs[new]) if new.any() else None
    return {
        "test_new_artist_covers": int(new.sum()),
        "test_new_artist_score": None if score is None else round(score, 4),
    }


def headline_sentence(metrics: RunMetrics) -> str | None:
    """One line for report.md/html and the model card (None when the run has no headline)."""
    h = metrics.headline
    if not h:
        return None
    via = "" if h["head"] == h["chosen_method"] else f" (refitted as its {h['head']} head)"
    return (
        f"Estimated weighted F1 of {h['chosen_method']}{via}: {h['estimate']:.3f} "
        f"(fold range {h['interval'][0]:.3f}–{h['interval'][1]:.3f}, {h['n_folds']}-fold "
        f"grouped cross-validation × {h['repeats']} over all {h['covers']} covers, folds "
        f"grouped by {grouped_by(h)}); the single test split scored "
        f"{h['test_split_score']:.3f}{new_artists(h)}."
    )


def grouped_by(h: dict) -> str:
    g = h.get("grouping")
    return ", ".join(g["by"]) if g else "manifest group_id"


def new_artists(h: dict) -> str:
    if h.get("test_new_artist_score") is None:
        return ""
    return (
        f", {h['test_new_artist_score']:.3f} on its {h['test_new_artist_covers']} covers "
        "whose artist train lacks"
    )
