"""The ladder's method names, a leaf that the settings (training/config.py) validate against
without importing the rungs, which import the settings."""

from __future__ import annotations

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
