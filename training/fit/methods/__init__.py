"""Training methods, from the study's baseline up, behind one :class:`Method` protocol.

A rung (embedding heads, fine-tune + hybrid, text + fused) is a :class:`Method`: given a
:class:`RungContext` it fits its methods on train, chooses their settings on val only and
returns one :class:`MethodOutcome` per method: the same predictor type for every rung (the
fitted head with its val probabilities, the test probabilities computed once after every
choice, throughput and the model.pt payload). run.py calls the rungs in ladder order and
scores each outcome; later rungs (fused) see the earlier rungs' scored outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

    from sleeve.core.vision.backbones import Backbone
    from sleeve.inference.run_metrics import ArtistTableMetrics
    from sleeve.inference.rundir import Run
    from sleeve.training.config import TrainConfig
    from sleeve.training.data import Export


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
    artist_table: ArtistTableMetrics | None = None  # fused: its artist table's figures
    val: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)


@dataclass
class RungContext:
    """What a rung may read: the export, the settings, where to cache and write, and what
    the rungs before it produced."""

    export: Export
    config: TrainConfig
    device: torch.device
    cache_root: Path | None  # <data_dir>/cache/embeddings (None: no cache)
    run: Run
    outcomes: list[MethodOutcome] = field(default_factory=list)  # earlier rungs', scored
    # "x": the embedding rung's features, rows following export.samples (label issues,
    # headline, learning curve and small-val selection reuse them)
    features: dict[str, np.ndarray] = field(default_factory=dict)


class Method(Protocol):
    """A rung of the ladder."""

    @property
    def names(self) -> tuple[str, ...]:
        """The --method names it answers (a class attribute in each rung)."""
        ...

    def wanted(self, config: TrainConfig) -> bool: ...

    def fit(self, ctx: RungContext) -> list[MethodOutcome]:
        """Fit on train, choose on val, return finished predictors (test scored by run.py)."""
        ...
