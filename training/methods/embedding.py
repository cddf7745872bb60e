"""What every rung on backbone features shares: features and labels per split, and turning a
fitted head into the common :class:`~sleeve.training.methods.MethodOutcome` (test
probabilities, throughput, model.pt payload). Used by run.py and the hybrid rung."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from sleeve.training.classifier import package
from sleeve.training.embeddings import FeatureRecipe, encode
from sleeve.training.heads_runtime import head_probabilities
from sleeve.training.methods import FittedHead, MethodOutcome

if TYPE_CHECKING:
    from sleeve.training.backbones import Backbone
    from sleeve.training.config import TrainConfig
    from sleeve.training.data import Export


def split_labels(export: Export, split: str) -> np.ndarray:
    return np.array([s.label for s in export.split(split)], dtype=np.int64)


def split_arrays(
    export: Export, feats: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Features and labels per split; ``feats`` rows follow ``export.samples``."""
    split_of = np.array([s.split for s in export.samples])
    x = {sp: feats[split_of == sp] for sp in ("train", "val", "test")}
    return x, {sp: split_labels(export, sp) for sp in ("train", "val", "test")}


def embedding_outcome(
    export: Export,
    config: TrainConfig,
    fitted: FittedHead,
    backbone: Backbone,
    recipe: FeatureRecipe,
    x_test: np.ndarray,
    per_image: float,
    **extra,
) -> MethodOutcome:
    """A head on backbone features: its test probabilities, throughput and model.pt payload."""
    test_probs = head_probabilities(fitted.head, x_test)
    ips = 1.0 / (per_image + head_seconds(fitted.head, x_test[:64]))
    payload = package(
        method=fitted.method,
        kind="embedding-head",
        genres=export.genres,
        dataset_id=export.dataset_id,
        backbone=backbone,
        weights=config.weights,
        recipe=recipe,
        head=fitted.head,
        extra={"params": fitted.params, **extra},
    )
    return MethodOutcome(fitted, test_probs, ips, payload)


def backbone_seconds(export: Export, backbone, recipe: FeatureRecipe, device, n: int = 64) -> float:
    """Seconds per image for decode + preprocess + forward, measured on test covers."""
    probe = export.split("test")[:n]
    start = time.perf_counter()
    encode(probe, backbone, recipe, device, batch_size=32, progress=False)
    return (time.perf_counter() - start) / max(1, len(probe))


def head_seconds(head: dict, x: np.ndarray) -> float:
    start = time.perf_counter()
    head_probabilities(head, x)
    return (time.perf_counter() - start) / max(1, len(x))
