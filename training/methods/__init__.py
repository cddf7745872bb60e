"""Training methods, from the study's baseline up.

Every embedding method takes cached features of train and val, picks its few hyper-parameters
on val only, and returns a :class:`FittedHead` whose ``head`` is stored in model.pt and
applied by :func:`sleeve.training.heads_runtime.head_probabilities`. Test is never seen here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sleeve.training.backbones import Backbone

EMBEDDING_METHODS = ("knn", "logreg", "svc", "rf", "catboost")
# kNN / SVC in a learned space (methods/projected.py); asked for by name, like hybrid
PROJECTED_METHODS = ("lda-knn", "lda-svc", "supcon-knn", "supcon-svc")
ALL_METHODS = (
    *EMBEDDING_METHODS,
    "ensemble",
    "finetune",
    "hybrid",
    *PROJECTED_METHODS,
    "text",
    "fused",
)


@dataclass
class FittedHead:
    method: str
    head: dict
    val_probs: np.ndarray
    params: dict = field(default_factory=dict)  # the hyper-parameters chosen on val
    train_seconds: float = 0.0


@dataclass
class MethodOutcome:
    """What every rung hands to run.py: the fitted predictor, its test probabilities (computed
    once, after every choice was made on val), throughput and its model.pt payload."""

    fitted: FittedHead
    test_probs: np.ndarray
    images_per_second: float
    payload: dict  # model.pt for this method (only the best one is written)
    network: Backbone | None = None  # the fine-tuned backbone (finetune), for the hybrid
    val: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
