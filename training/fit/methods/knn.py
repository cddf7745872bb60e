"""The study's baseline: FAISS kNN on L2-normalised embeddings (cosine similarity)."""

from __future__ import annotations

import time

import numpy as np
import torch

from sleeve.inference.heads_runtime import head_probabilities, l2_normalise
from sleeve.training.evaluation.metrics import classification_metrics
from sleeve.training.fit.methods import FittedHead

K_CHOICES = (5, 10, 20, 40)


def fit_knn(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    genres: list[str],
) -> FittedHead:
    start = time.perf_counter()
    vectors = torch.from_numpy(l2_normalise(x_train))
    labels = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    best: tuple[float, int, np.ndarray] | None = None
    for k in K_CHOICES:
        if k > len(vectors):
            break
        head = {
            "type": "knn",
            "vectors": vectors,
            "labels": labels,
            "k": k,
            "n_classes": len(genres),
        }
        probs = head_probabilities(head, x_val)
        f1 = classification_metrics(y_val, probs.argmax(1), genres)["weighted_f1"]
        if best is None or f1 > best[0]:
            best = (f1, k, probs)
    if best is None:  # fewer training images than the smallest k
        k = len(vectors)
        head = {
            "type": "knn",
            "vectors": vectors,
            "labels": labels,
            "k": k,
            "n_classes": len(genres),
        }
        best = (0.0, k, head_probabilities(head, x_val))
    _, k, probs = best
    head = {"type": "knn", "vectors": vectors, "labels": labels, "k": k, "n_classes": len(genres)}
    return FittedHead(
        "knn", head, probs, {"k": k, "vote": "exp(sim/0.1)"}, time.perf_counter() - start
    )
