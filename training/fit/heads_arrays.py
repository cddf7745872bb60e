"""Fitted scikit-learn / CatBoost estimators -> plain-array heads (no pickle, ever).

``model.pt`` is loaded with ``torch.load(weights_only=True)``; a pickled estimator inside it
would be unpickled at prediction time and could run any code its author chose. So a head keeps
only the numbers its estimator predicts with (support vectors, tree arrays, leaf values), as
tensors, and :mod:`sleeve.inference.heads_runtime` evaluates them in numpy with the estimator's
own semantics (the tests compare against ``decision_function``/``predict_proba``). Each head
records the library versions it was fitted with (``fitted_with``).
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import torch


def library_versions(*names: str) -> dict[str, str]:
    out = {"numpy": np.__version__}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - the estimator came from it
            out[name] = "unknown"
    return out


def _t(array: np.ndarray, dtype: np.dtype | type = np.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=dtype)))


def _scaled(head: dict, mean: np.ndarray | None, scale: np.ndarray | None) -> dict:
    if mean is not None and scale is not None:  # a scaler gives both
        head["mean"], head["scale"] = _t(mean), _t(scale)
    return head


def svc_head(
    model: Any,
    temperature: float,
    n_classes: int,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> dict:
    """An RBF/linear ``SVC`` (one-vs-one inside, ``decision_function_shape="ovr"``) whose
    probabilities are ``softmax(ovr decision / temperature)``."""
    if model.kernel not in ("rbf", "linear"):
        raise ValueError(f"SVC kernel {model.kernel!r} cannot be exported (rbf or linear)")
    head = {
        "type": "svc",
        "kernel": str(model.kernel),
        "gamma": float(model._gamma),
        "support_vectors": _t(model.support_vectors_),
        "dual_coef": _t(model.dual_coef_),  # public sign (already flipped for two classes)
        "intercept": _t(model.intercept_),
        "n_support": _t(model.n_support_, np.int64),
        "classes": _t(model.classes_, np.int64),
        "n_classes": int(n_classes),
        "temperature": float(temperature),
        "fitted_with": library_versions("scikit-learn"),
    }
    return _scaled(head, mean, scale)


def forest_head(model: Any, n_classes: int) -> dict:
    """A ``RandomForestClassifier`` as its trees' node arrays, concatenated (one output)."""
    lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
    offset = 0
    for est in model.estimators_:
        tree = est.tree_
        left = tree.children_left.astype(np.int64)
        right = tree.children_right.astype(np.int64)
        leaf = left < 0
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        features.append(np.where(leaf, 0, tree.feature).astype(np.int64))
        thresholds.append(tree.threshold.astype(np.float64))
        value = tree.value[:, 0, :].astype(np.float64)
        total = value.sum(axis=1, keepdims=True)
        values.append(value / np.where(total > 0, total, 1.0))  # as predict_proba normalises
        roots.append(offset)
        offset += tree.node_count
    return {
        "type": "forest",
        "left": _t(np.concatenate(lefts), np.int64),
        "right": _t(np.concatenate(rights), np.int64),
        "feature": _t(np.concatenate(features), np.int64),
        "threshold": _t(np.concatenate(thresholds)),
        "value": _t(np.concatenate(values)),
        "roots": _t(np.asarray(roots), np.int64),
        "classes": _t(model.classes_, np.int64),
        "n_classes": int(n_classes),
        "fitted_with": library_versions("scikit-learn"),
    }


def catboost_head(model: Any, n_classes: int) -> dict:
    """A ``CatBoostClassifier`` on float features as its oblivious trees (CatBoost's JSON
    export, the documented format), padded to one depth: a padding split never fires."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        model.save_model(path, format="json")
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    finally:
        os.unlink(path)
    trees = doc["oblivious_trees"]
    depth = max((len(t["splits"]) for t in trees), default=0)
    dims = len(trees[0]["leaf_values"]) // (1 << len(trees[0]["splits"])) if trees else 1
    feats = np.zeros((len(trees), depth), dtype=np.int64)
    borders = np.full((len(trees), depth), np.inf, dtype=np.float32)
    leaves = np.zeros((len(trees), 1 << depth, dims))
    for i, tree in enumerate(trees):
        for b, split in enumerate(tree["splits"]):
            if split.get("split_type", "FloatFeature") != "FloatFeature":
                raise ValueError(f"CatBoost split {split.get('split_type')!r} cannot be exported")
            feats[i, b] = int(split["float_feature_index"])
            borders[i, b] = np.float32(split["border"])
        values = np.asarray(tree["leaf_values"], dtype=np.float64).reshape(-1, dims)
        leaves[i, : len(values)] = values
    scale, bias = doc.get("scale_and_bias", [1.0, [0.0] * dims])
    return {
        "type": "oblivious",
        "features": _t(feats, np.int64),
        "borders": _t(borders, np.float32),
        "leaf_values": _t(leaves),
        "scale": float(scale),
        "bias": _t(np.asarray(bias, dtype=np.float64).reshape(-1)),
        "classes": _t(np.asarray(model.classes_).astype(np.int64)),
        "n_classes": int(n_classes),
        "fitted_with": library_versions("catboost"),
    }
