"""Grouped cross-validation of one embedding head with fixed settings, on cached features.

Shared by the headline estimate (training/evaluation/headline.py), selection on a small val
split (training/evaluation/selection.py) and the learning curve
(training/evaluation/learning_curve.py). Folds are
grouped by the manifest's ``group_id`` (duplicate group + artist + release, as the split and
the label-issue folds are) and stratified by label, so a near-copy or the same artist's other
covers never sit on both sides of a fold. The head is refitted per fold with the settings the
run chose on val (no inner search: cheap, and the estimate is of the recipe as shipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sleeve.inference.estimators import logreg_model, svc_model
from sleeve.inference.heads_runtime import head_probabilities, l2_normalise, ovr_logits, softmax
from sleeve.inference.text_head import TextHead, TextSetting, fit_head, fuse_by_condition
from sleeve.training.data import ExtraRows
from sleeve.training.evaluation.cover_groups import fold_of
from sleeve.training.evaluation.metrics import classification_metrics

# heads that can be refitted per fold from their chosen params, without a val split
REFITTABLE = ("knn", "logreg", "svc", "rf")


def _standardise(x_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x_fit.mean(0), x_fit.std(0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def refit_predict(
    method: str,
    params: dict,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_held: np.ndarray,
    n_classes: int,
    seed: int = 0,
) -> np.ndarray:
    """Predicted class per held-out row from ``method`` fitted on ``x_fit`` with ``params``."""
    if method == "knn":
        return refit_probabilities(method, params, x_fit, y_fit, x_held, n_classes).argmax(1)
    model = _model(method, params, seed)
    if method == "rf":
        model.fit(x_fit, y_fit)
        return model.predict(x_held)
    mean, scale = _standardise(x_fit)
    model.fit((x_fit - mean) / scale, y_fit)
    return model.predict((x_held - mean) / scale)


def _model(method: str, params: dict, seed: int) -> Any:
    """The scikit-learn estimator of a refittable head, with the run's chosen settings."""
    if method == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=300,
            max_features=params.get("max_features", "sqrt"),
            min_samples_leaf=2,
            class_weight="balanced",
            n_jobs=1,
            random_state=seed,
        )
    if method == "logreg":
        return logreg_model(float(params.get("C", 0.05)), seed)
    if method == "svc":
        return svc_model(float(params.get("C", 3.0)), seed)
    raise ValueError(f"{method} cannot be refitted per fold (one of {', '.join(REFITTABLE)})")


def refit_probabilities(
    method: str,
    params: dict,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_held: np.ndarray,
    n_classes: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """(held rows, n_classes) probabilities as the run's head gives them: the SVC's softmax over
    its one-vs-rest decision values at the run's ``temperature`` (chosen on val), the others'
    own probabilities; classes absent from a fold's fit get 0."""
    if method == "knn":
        import torch

        head = {
            "type": "knn",
            "vectors": torch.from_numpy(l2_normalise(x_fit)),
            "labels": torch.from_numpy(np.asarray(y_fit, dtype=np.int64)),
            "k": min(int(params.get("k", 10)), len(x_fit)),
            "n_classes": n_classes,
        }
        return head_probabilities(head, x_held)
    model = _model(method, params, seed)
    if method != "rf":
        mean, scale = _standardise(x_fit)
        x_fit, x_held = (x_fit - mean) / scale, (x_held - mean) / scale
    model.fit(x_fit, y_fit)
    if method == "svc":  # as heads_runtime.svc_probabilities computes the shipped head's
        present = softmax(ovr_logits(model.decision_function(x_held)) / temperature)
    else:
        present = model.predict_proba(x_held)
    out = np.zeros((len(x_held), n_classes))
    out[:, model.classes_] = present
    return out


def grouped_cv_scores(
    method: str,
    params: dict,
    x: np.ndarray,
    y: np.ndarray,
    groups: list[str],
    genres: list[str],
    repeats: int = 1,
    seed: int = 0,
) -> list[float]:
    """Weighted F1 of each held-out fold, over ``repeats`` reshuffles of grouped stratified
    K-fold (K as in label_issues: 5, fewer when a genre or the groups are too few)."""
    scores = []
    for r in range(repeats):
        fold = fold_of(y, groups, len(genres), seed + r)
        for k in range(int(fold.max()) + 1):
            fit_idx, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            if len(held) == 0 or len(np.unique(y[fit_idx])) < 2:
                continue
            pred = refit_predict(method, params, x[fit_idx], y[fit_idx], x[held], len(genres), seed)
            scores.append(classification_metrics(y[held], pred, genres)["weighted_f1"])
    return scores


def fused_cv_scores(
    image_method: str,
    image_params: dict,
    temperature: float,
    text: TextSetting,
    weights: dict[str, float],
    x: np.ndarray,
    texts: list[str],
    y: np.ndarray,
    groups: list[str],
    genres: list[str],
    repeats: int = 1,
    seed: int = 0,
    extra: ExtraRows | None = None,
    artists: Sequence[str] | None = None,
) -> list[float]:
    """:func:`grouped_cv_scores` of the late-fused rung (:func:`fused_oof_probabilities`)."""
    scores = []
    for r in range(repeats):
        fold = fold_of(y, groups, len(genres), seed + r)
        probs = fused_oof_probabilities(
            image_method, image_params, temperature, text, weights, x, texts, y, fold,
            len(genres), seed, extra, artists,
        )  # fmt: skip
        for k in range(int(fold.max()) + 1):
            held = np.flatnonzero(fold == k)
            if len(held) and probs[held].sum() > 0:
                pred = probs[held].argmax(1)
                scores.append(classification_metrics(y[held], pred, genres)["weighted_f1"])
    return scores


def fused_oof_probabilities(
    image_method: str,
    image_params: dict,
    temperature: float,
    text: TextSetting,
    weights: dict[str, float],
    x: np.ndarray,
    texts: list[str],
    y: np.ndarray,
    fold: np.ndarray,
    n_classes: int,
    seed: int = 0,
    extra: ExtraRows | None = None,
    artists: Sequence[str] | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities of the late-fused rung: per fold the image head and the text
    rung (TF-IDF fitted on the fold at the run's min_df, logistic regression at its C) are
    refitted and fused with the run's text weights per condition (words / no_words), all
    settings as chosen on val. Rows of a fold that cannot be fitted (one class left) stay 0.

    ``extra``: the text rung's rows from outside the export (the balancer's left-out and the
    ambiguous groups' covers), added to each fold's text fit as the shipped rung adds them,
    less those whose artist one of the fold's held covers has (``artists``: per row of ``x``)."""
    probs = np.zeros((len(y), n_classes))
    for k in range(int(fold.max()) + 1):
        fit_idx, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        if len(held) == 0 or len(np.unique(y[fit_idx])) < 2:
            continue
        p_image = refit_probabilities(
            image_method, image_params, x[fit_idx], y[fit_idx], x[held], n_classes,
            temperature=temperature, seed=seed,
        )  # fmt: skip
        head = _fold_text_head(texts, y, fit_idx, held, text, n_classes, seed, extra, artists)
        held_texts = [texts[i] for i in held]
        p_text = head.probabilities(held_texts)
        probs[held] = fuse_by_condition(p_image, p_text, head.speaks(held_texts), weights)
    return probs


def _fold_text_head(
    texts: list[str],
    y: np.ndarray,
    fit_idx: np.ndarray,
    held: np.ndarray,
    text: TextSetting,
    n_classes: int,
    seed: int,
    extra: ExtraRows | None,
    artists: Sequence[str] | None,
) -> TextHead:
    """One fold's text rung: the fold's covers, plus the extra rows no held cover vouches for."""
    fit_texts, fit_y = [texts[i] for i in fit_idx], y[fit_idx]
    if extra is None or not extra.texts:
        return fit_head(fit_texts, fit_y, text, n_classes, seed)
    held_artists = {artists[i] for i in held} - {""} if artists is not None else set()
    rows = extra.outside(held_artists)
    return fit_head(
        fit_texts + rows.texts,
        np.concatenate([fit_y, rows.y]),
        text,
        n_classes,
        seed,
        np.concatenate([np.ones(len(fit_y)), rows.weight]),
    )


def image_oof_probabilities(
    method: str,
    params: dict,
    temperature: float,
    x: np.ndarray,
    y: np.ndarray,
    fold: np.ndarray,
    n_classes: int,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold probabilities of a refittable image head (:func:`refit_probabilities`)."""
    probs = np.zeros((len(y), n_classes))
    for k in range(int(fold.max()) + 1):
        fit_idx, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        if len(held) == 0 or len(np.unique(y[fit_idx])) < 2:
            continue
        probs[held] = refit_probabilities(
            method, params, x[fit_idx], y[fit_idx], x[held], n_classes,
            temperature=temperature, seed=seed,
        )  # fmt: skip
    return probs
