"""Classical heads on cached embeddings: logistic regression, RBF SVC, random forest, CatBoost.

Each uses ``class_weight="balanced"`` (the card's imbalance), standardises features where the
model cares about scale, and picks one or two hyper-parameters on val weighted F1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sleeve.core.errors import ConfigError
from sleeve.inference.estimators import logreg_model, svc_model
from sleeve.inference.heads_runtime import head_probabilities, ovr_logits, softmax
from sleeve.training.evaluation.metrics import classification_metrics
from sleeve.training.fit.heads_arrays import catboost_head, forest_head, svc_head
from sleeve.training.fit.methods import FittedHead


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _scaler(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def _select(
    method: str,
    grid: list[dict],
    fit: Callable[[dict], dict],
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
) -> FittedHead:
    """Fit each grid point, keep the best val weighted F1 (ties: the earlier, simpler one)."""
    start = time.perf_counter()
    best: FittedHead | None = None
    best_f1 = -1.0
    for params in grid:
        head = fit(params)
        probs = head_probabilities(head, x_val)
        f1 = classification_metrics(y_val, probs.argmax(1), genres)["weighted_f1"]
        if f1 > best_f1:
            best_f1, best = f1, FittedHead(method, head, probs, dict(params))
    assert best is not None
    best.params["val_weighted_f1"] = best_f1
    best.train_seconds = time.perf_counter() - start
    return best


def fit_logreg(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    seed: int = 0,
) -> FittedHead:
    mean, scale = _scaler(x_tr)
    z = (x_tr - mean) / scale

    def fit(params: dict) -> dict:
        model = logreg_model(params["C"], seed)
        model.fit(z, y_tr)
        coef, bias = _full_linear(model, len(genres))
        # exported as plain tensors: the head runs without scikit-learn at predict time
        return {
            "type": "linear",
            "weight": torch.from_numpy(coef),
            "bias": torch.from_numpy(bias),
            "mean": torch.from_numpy(mean),
            "scale": torch.from_numpy(scale),
        }

    return _select("logreg", [{"C": c} for c in (0.01, 0.05, 0.2, 1.0)], fit, x_val, y_val, genres)


def _full_linear(model: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    coef, bias = model.coef_.astype(np.float64), model.intercept_.astype(np.float64)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; softmax over (-z/2, z/2) is equal
        coef = np.vstack([-coef / 2, coef / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    full_w = np.zeros((n_classes, coef.shape[1]))
    full_b = np.full(n_classes, -1e9)  # a class absent from train can never win
    full_w[model.classes_] = coef
    full_b[model.classes_] = bias
    return full_w, full_b


def _fit_temperature(decision: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    decision = ovr_logits(decision)
    index = {int(c): i for i, c in enumerate(classes)}
    cols = np.array([index.get(int(t), -1) for t in y])
    known = cols >= 0
    best_t, best_nll = 1.0, np.inf
    for t in (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
        p = softmax(decision[known] / t)
        nll = -np.log(np.maximum(p[np.arange(known.sum()), cols[known]], 1e-12)).mean()
        if nll < best_nll:
            best_t, best_nll = t, nll
    return best_t


def fit_svc(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    seed: int = 0,
) -> FittedHead:
    mean, scale = _scaler(x_tr)
    z = (x_tr - mean) / scale

    def fit(params: dict) -> dict:
        model = svc_model(params["C"], seed)
        model.fit(z, y_tr)
        # SVC(probability=True) is deprecated (scikit-learn 1.9) and costs a 5-fold refit:
        # a softmax over the one-vs-rest decision values, its temperature fitted on val
        # (negative log-likelihood), gives probabilities an ensemble can average.
        zv = (x_val - mean) / scale
        temperature = _fit_temperature(model.decision_function(zv), y_val, model.classes_)
        return svc_head(model, temperature, len(genres), mean, scale)

    return _select("svc", [{"C": c} for c in (1.0, 3.0, 10.0)], fit, x_val, y_val, genres)


def fit_rf(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    seed: int = 0,
) -> FittedHead:
    from sklearn.ensemble import RandomForestClassifier

    def fit(params: dict) -> dict:
        model = RandomForestClassifier(
            n_estimators=300,
            max_features=params["max_features"],
            min_samples_leaf=2,
            class_weight="balanced",
            n_jobs=_cores(),
            random_state=seed,
        )
        model.fit(x_tr, y_tr)
        return forest_head(model, len(genres))

    grid: list[dict] = [{"max_features": "sqrt"}, {"max_features": 0.05}]
    return _select("rf", grid, fit, x_val, y_val, genres)


def catboost_available() -> bool:
    try:
        import catboost  # noqa: F401
    except ImportError:
        return False
    return True


def fit_catboost(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
    seed: int = 0,
) -> FittedHead:
    if not catboost_available():
        raise ConfigError(
            "method catboost needs the optional extra: pip install 'sleeve[catboost]'"
        )
    from catboost import CatBoostClassifier

    def fit(params: dict) -> dict:
        model = CatBoostClassifier(
            iterations=params["iterations"],
            depth=6,
            learning_rate=0.1,
            loss_function="MultiClass",
            auto_class_weights="Balanced",
            random_seed=seed,
            thread_count=_cores(),
            verbose=False,
            allow_writing_files=False,
        )
        # val is used for early stopping, i.e. for choosing the number of trees: selection on
        # val only, test still unseen
        model.fit(x_tr, y_tr, eval_set=(x_val, y_val), early_stopping_rounds=50)
        return catboost_head(model, len(genres))

    return _select("catboost", [{"iterations": 400}], fit, x_val, y_val, genres)


EMBEDDING_FITTERS: dict[str, Callable[..., FittedHead]] = {
    "logreg": fit_logreg,
    "svc": fit_svc,
    "rf": fit_rf,
    "catboost": fit_catboost,
}


def fit_ensemble(
    fitted: list[FittedHead], y_val: np.ndarray, genres: list[str], rounds: int = 10
) -> FittedHead:
    """Greedy forward selection with replacement (Caruana et al., 2004) on val weighted F1."""
    start = time.perf_counter()
    counts = [0] * len(fitted)
    total = np.zeros_like(fitted[0].val_probs)
    best_f1 = -1.0
    for _ in range(rounds):
        scores = []
        for member in fitted:
            probs = (total + member.val_probs) / (sum(counts) + 1)
            scores.append(classification_metrics(y_val, probs.argmax(1), genres)["weighted_f1"])
        i = int(np.argmax(scores))
        if scores[i] <= best_f1 and sum(counts) > 0:
            break
        best_f1 = scores[i]
        counts[i] += 1
        total = total + fitted[i].val_probs
    members = [f.head for f, c in zip(fitted, counts, strict=True) if c]
    weights = [c for c in counts if c]
    head = {"type": "ensemble", "members": members, "weights": weights}
    params = {
        "members": {f.method: c for f, c in zip(fitted, counts, strict=True) if c},
        "val_weighted_f1": best_f1,
    }
    return FittedHead("ensemble", head, total / sum(counts), params, time.perf_counter() - start)
