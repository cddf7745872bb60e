"""Apply a stored head (a plain dict of tensors) to features: the one code path shared by
evaluation during training and by :class:`~sleeve.inference.classifier.Classifier`.

Head kinds (``head["type"]``):

- ``linear``: ``softmax(((x - mean) / scale) @ weight.T + bias)``; logistic regression and the
  fine-tuned network's last layer. Pure torch, portable.
- ``knn``: cosine kNN over stored L2-normalised training vectors, distance-weighted vote.
- ``svc``: an RBF/linear SVC's support vectors, dual coefficients and intercepts; scikit-learn's
  one-vs-one -> one-vs-rest decision, then a softmax at a fitted temperature.
- ``forest``: a random forest's node arrays; the mean of its trees' leaf class fractions.
- ``oblivious``: CatBoost's oblivious trees; softmax of the summed leaf values.
- ``ensemble``: weighted mean of its members' probabilities.
- ``projected``: a learned projection of the features (LDA, or a small metric-learning MLP:
  standardise, dense layers with ReLU between them, optional L2 normalisation), then an inner
  head applied in the new space.

Every kind is numbers only (see :mod:`sleeve.training.fit.heads_arrays`): loading a model never
unpickles anything, and predicting needs neither scikit-learn nor catboost. Heads written by
sleeve before this format (``sklearn``: a pickled estimator) are refused at load by
:func:`sleeve.inference.model_check.check_head`, as is any kind not listed here, and every
array's shape and values are checked there too.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from sleeve.core.errors import DataError


def _standardise(head: dict, x: np.ndarray) -> np.ndarray:
    if "mean" in head and head["mean"] is not None:
        mean = np.asarray(head["mean"], dtype=np.float64)
        scale = np.asarray(head["scale"], dtype=np.float64)
        return (x - mean) / scale
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


def knn_probabilities(
    neighbour_sims: np.ndarray, neighbour_labels: np.ndarray, n_classes: int
) -> np.ndarray:
    """Distance-weighted vote: weight = exp(sim / T), T = 0.1 (similar covers count more)."""
    weights = np.exp((neighbour_sims - 1.0) / 0.1)
    probs = np.zeros((len(neighbour_sims), n_classes))
    rows = np.repeat(np.arange(len(neighbour_sims)), neighbour_sims.shape[1])
    np.add.at(probs, (rows, neighbour_labels.ravel()), weights.ravel())
    return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)


def knn_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search (cosine on L2-normalised vectors) with a FAISS flat index."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    sims, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return sims.astype(np.float64), idx


def head_probabilities(head: dict, feats: np.ndarray | torch.Tensor) -> np.ndarray:
    x = feats.detach().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
    x = x.astype(np.float64)
    kind = head["type"]
    if kind == "linear":
        w = _tensor_np(head["weight"])
        b = _tensor_np(head["bias"])
        return softmax(_standardise(head, x) @ w.T + b)
    if kind == "knn":
        vectors = _tensor_np(head["vectors"]).astype(np.float32)
        labels = _tensor_np(head["labels"]).astype(np.int64)
        k = min(int(head["k"]), len(vectors))
        top, idx = knn_search(vectors, l2_normalise(x), k)
        return knn_probabilities(top, labels[idx], int(head["n_classes"]))
    if kind == "svc":
        return _columns(head, svc_probabilities(head, _standardise(head, x)))
    if kind == "forest":
        return _columns(head, forest_probabilities(head, x))
    if kind == "oblivious":
        return _columns(head, oblivious_probabilities(head, x))
    if kind == "projected":
        return head_probabilities(head["head"], project(head["projection"], x))
    if kind == "ensemble":
        total = sum(float(w) for w in head["weights"])
        return np.asarray(  # a sum of arrays (the checker counts the empty sum's 0 too)
            sum(
                float(w) * head_probabilities(m, x)
                for m, w in zip(head["members"], head["weights"], strict=True)
            )
            / total
        )
    # model_check.check_head refuses these at load; a head built in code can still be wrong
    raise DataError(f"unknown head type {kind!r}")


def project(projection: dict, x: np.ndarray) -> np.ndarray:
    """Features -> the learned space: ``(x - mean) / scale``, then each dense layer (ReLU
    between layers, none after the last), then L2 normalisation when ``normalise`` is set."""
    z = _standardise(projection, np.asarray(x, dtype=np.float64))
    layers = projection["layers"]
    for i, layer in enumerate(layers):
        z = z @ _tensor_np(layer["weight"]).astype(np.float64).T
        z = z + _tensor_np(layer["bias"]).astype(np.float64)
        if i < len(layers) - 1:
            z = np.maximum(z, 0.0)
    if projection.get("normalise", False):
        z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return z


def _columns(head: dict, probs: np.ndarray) -> np.ndarray:
    """One column per genre: an estimator only knows the classes it saw in train."""
    out = np.zeros((len(probs), int(head["n_classes"])))
    out[:, _tensor_np(head["classes"]).astype(np.int64)] = probs
    return out


# float64 support vectors and their squared norms per stored array, made once: converting
# them (thousands x thousands of floats) was most of a single-cover predict's SVC time
_SUPPORT: dict[int, tuple[weakref.ref, np.ndarray, np.ndarray]] = {}


def _support_vectors(head: dict) -> tuple[np.ndarray, np.ndarray]:
    stored = head["support_vectors"]
    hit = _SUPPORT.get(id(stored))
    if hit is not None and hit[0]() is stored:
        return hit[1], hit[2]
    sv = _tensor_np(stored).astype(np.float64)
    norms = (sv**2).sum(1)
    key = id(stored)
    try:  # forgotten with the array it was made from
        ref = weakref.ref(stored, lambda _: _SUPPORT.pop(key, None))
    except TypeError:  # an array that cannot be weakly referenced: no memo
        return sv, norms
    _SUPPORT[key] = (ref, sv, norms)
    return sv, norms


def svc_decision(head: dict, z: np.ndarray) -> np.ndarray:
    """scikit-learn's ``SVC.decision_function`` (``ovr`` shape) from the stored arrays."""
    sv, sv_norms = _support_vectors(head)
    if head["kernel"] == "linear":
        kernel = z @ sv.T
    else:  # rbf: exp(-gamma * |z - sv|^2)
        sq = (z**2).sum(1)[:, None] + sv_norms[None, :] - 2.0 * (z @ sv.T)
        kernel = np.exp(-float(head["gamma"]) * np.maximum(sq, 0.0))
    coef = _tensor_np(head["dual_coef"]).astype(np.float64)
    intercept = _tensor_np(head["intercept"]).astype(np.float64)
    counts = _tensor_np(head["n_support"]).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    n = len(counts)
    if n == 2:  # public dual_coef_/intercept_ carry the flipped sign scikit-learn reports
        return (kernel @ coef[0] + intercept[0])[:, None]
    pairs: list[np.ndarray] = []
    for i in range(n):
        for j in range(i + 1, n):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            dec = kernel[:, si] @ coef[j - 1, si] + kernel[:, sj] @ coef[i, sj]
            pairs.append(dec + intercept[len(pairs)])
    ovo = np.stack(pairs, axis=1)
    return _ovr_from_ovo(ovo < 0, -ovo, n)


def _ovr_from_ovo(predictions: np.ndarray, confidences: np.ndarray, n: int) -> np.ndarray:
    """scikit-learn's ``_ovr_decision_function``: votes plus confidences squashed to (-1/3, 1/3)."""
    votes = np.zeros((len(predictions), n))
    sums = np.zeros((len(predictions), n))
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            sums[:, i] -= confidences[:, k]
            sums[:, j] += confidences[:, k]
            votes[predictions[:, k] == 0, i] += 1
            votes[predictions[:, k] == 1, j] += 1
            k += 1
    return votes + sums / (3 * (np.abs(sums) + 1))


def ovr_logits(decision: np.ndarray) -> np.ndarray:
    """Two symmetric logits for a binary decision column; other shapes unchanged."""
    decision = np.asarray(decision, dtype=np.float64).reshape(len(decision), -1)
    if decision.shape[1] == 1:
        decision = np.hstack([-decision / 2, decision / 2])
    return decision


def svc_probabilities(head: dict, z: np.ndarray) -> np.ndarray:
    return softmax(ovr_logits(svc_decision(head, z)) / float(head["temperature"]))


def forest_probabilities(head: dict, x: np.ndarray) -> np.ndarray:
    """Mean over trees of the reached leaf's class fractions; like scikit-learn, features are
    compared as float32 against the float64 thresholds (``x <= threshold`` goes left)."""
    x32 = np.asarray(x, dtype=np.float32)
    left, right = _tensor_np(head["left"]), _tensor_np(head["right"])
    feature, threshold = _tensor_np(head["feature"]), _tensor_np(head["threshold"])
    value = _tensor_np(head["value"])
    node = np.broadcast_to(_tensor_np(head["roots"]), (len(x32), len(head["roots"]))).copy()
    rows = np.arange(len(x32))[:, None]
    while True:
        inner = left[node] >= 0
        if not inner.any():
            break
        goes_left = x32[rows, feature[node]] <= threshold[node]
        node = np.where(inner, np.where(goes_left, left[node], right[node]), node)
    return value[node].mean(axis=1)


def oblivious_probabilities(head: dict, x: np.ndarray) -> np.ndarray:
    """CatBoost: leaf index bit b is ``x[feature_b] > border_b`` (float32), leaf values summed
    over trees, scaled and shifted, then softmax (sigmoid for a single dimension)."""
    x32 = np.asarray(x, dtype=np.float32)
    feats = _tensor_np(head["features"]).astype(np.int64)
    borders = _tensor_np(head["borders"]).astype(np.float32)
    leaves = _tensor_np(head["leaf_values"]).astype(np.float64)
    bits = x32[:, feats] > borders[None]  # (n, trees, depth)
    index = (bits.astype(np.int64) << np.arange(feats.shape[1])).sum(axis=2)
    raw = leaves[np.arange(len(feats))[None, :], index].sum(axis=1)  # (n, dims)
    raw = raw * float(head["scale"]) + _tensor_np(head["bias"]).astype(np.float64)
    if raw.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return np.stack([1 - p, p], axis=1)
    return softmax(raw)


def _tensor_np(value: torch.Tensor | np.ndarray | list) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
