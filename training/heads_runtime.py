"""Apply a stored head (a plain dict of tensors) to features: the one code path shared by
evaluation during training and by :class:`~sleeve.training.classifier.Classifier`.

Head kinds (``head["type"]``):

- ``linear``: ``softmax(((x - mean) / scale) @ weight.T + bias)``; logistic regression and the
  fine-tuned network's last layer. Pure torch, portable.
- ``knn``: cosine kNN over stored L2-normalised training vectors, distance-weighted vote.
- ``sklearn``: a pickled estimator with ``predict_proba`` (SVC, random forest, CatBoost),
  applied after an optional standardisation. Needs scikit-learn (and catboost) installed.
- ``ensemble``: weighted mean of its members' probabilities.
"""

from __future__ import annotations

import pickle

import numpy as np
import torch


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
    if kind == "sklearn":
        model = pickle.loads(head["pickle"])
        return np.asarray(model.predict_proba(_standardise(head, x)), dtype=np.float64)
    if kind == "ensemble":
        total = sum(float(w) for w in head["weights"])
        return (
            sum(
                float(w) * head_probabilities(m, x)
                for m, w in zip(head["members"], head["weights"], strict=True)
            )
            / total
        )
    raise ValueError(f"unknown head type {kind!r}")


def _tensor_np(value: torch.Tensor | np.ndarray | list) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
