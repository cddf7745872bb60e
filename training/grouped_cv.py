"""Grouped cross-validation of one embedding head with fixed settings, on cached features.

Shared by the headline estimate (training/headline.py), selection on a small val split
(training/selection.py) and the learning curve (training/learning_curve.py). Folds are
grouped by the manifest's ``group_id`` (duplicate group + artist + release, as the split and
the label-issue folds are) and stratified by label, so a near-copy or the same artist's other
covers never sit on both sides of a fold. The head is refitted per fold with the settings the
run chose on val (no inner search: cheap, and the estimate is of the recipe as shipped).
"""

from __future__ import annotations

import numpy as np

from sleeve.training.evaluate import classification_metrics
from sleeve.training.heads_runtime import head_probabilities, l2_normalise
from sleeve.training.label_issues import fold_of

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
        import torch

        head = {
            "type": "knn",
            "vectors": torch.from_numpy(l2_normalise(x_fit)),
            "labels": torch.from_numpy(np.asarray(y_fit, dtype=np.int64)),
            "k": min(int(params.get("k", 10)), len(x_fit)),
            "n_classes": n_classes,
        }
        return head_probabilities(head, x_held).argmax(1)
    if method == "rf":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(
            n_estimators=300,
            max_features=params.get("max_features", "sqrt"),
            min_samples_leaf=2,
            class_weight="balanced",
            n_jobs=1,
            random_state=seed,
        )
        model.fit(x_fit, y_fit)
        return model.predict(x_held)
    mean, scale = _standardise(x_fit)
    if method == "logreg":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(
            C=float(params.get("C", 0.05)),
            class_weight="balanced",
            max_iter=3000,
            random_state=seed,
        )
    elif method == "svc":
        from sklearn.svm import SVC

        model = SVC(
            C=float(params.get("C", 3.0)),
            kernel="rbf",
            gamma="scale",
            class_weight="balanced",
            random_state=seed,
        )
    else:
        raise ValueError(f"{method} cannot be refitted per fold (one of {', '.join(REFITTABLE)})")
    model.fit((x_fit - mean) / scale, y_fit)
    return model.predict((x_held - mean) / scale)


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
