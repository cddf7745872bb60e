"""train-and-evaluate's settings (:class:`TrainConfig`), its default ladder and seeding.

Kept apart from run.py (the orchestrator) so the methods, the outputs and the CLI can import
them without importing the orchestrator back.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from sleeve.core.errors import ConfigError
from sleeve.core.vision.backbones import DEFAULT_BACKBONE, STACK_SEP, STACK_WEIGHTS_ERROR
from sleeve.core.vision.embeddings import FeatureRecipe
from sleeve.inference.side_features import SIDE_HELP, is_side_method
from sleeve.training.fit.method_names import ALL_METHODS

# "hybrid" is asked for by name: it measured level with the stack SVC (README) and doubles
# the network work per cover. "text" and "fused" read the export's text.jsonl (skipped, with a
# warning, when it is absent): fused won on val on all three split seeds (benchmarks/text.py)
DEFAULT_METHODS = (
    "knn",
    "logreg",
    "svc",
    "rf",
    "catboost",
    "ensemble",
    "finetune",
    "text",
    "fused",
)


# the bootstrap noise of val weighted F1 shrinks as 1/sqrt(n): below this many covers, gaps
# between rungs are mostly val noise (training/evaluation/selection.py, benchmarks/selection.py)
VAL_MIN_COVERS = 300


@dataclass
class TrainConfig:
    methods: tuple[str, ...] = DEFAULT_METHODS
    backbone: str = DEFAULT_BACKBONE
    weights: str = "auto"
    seed: int = 0
    epochs: int = 5
    image_size: int = 224  # embedding methods
    finetune_size: int | None = None  # None: 224 on GPU, 192 on CPU
    augment: str = "simple"
    device: str = "auto"
    resume: bool = False
    flip_tta: bool = False
    taps: tuple[int, ...] = ()
    style: bool = False
    batch_size: int = 32
    label_issues: bool = True  # label_issues.csv: out-of-fold confident learning on train+val
    learning_curve: bool = False  # nested train fractions + power law + advice (report)
    # below this many val covers the shipped method is chosen by grouped CV (training/selection)
    select_min_val: int = VAL_MIN_COVERS
    train_stages: int | None = None  # fine-tune: stages left trainable (None: 3 CPU, all GPU)
    finetune_attributes: bool = False  # fine-tune: attributes.csv beside the pooled features
    progress: bool = True

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in ALL_METHODS and not is_side_method(m)]
        if unknown or not self.methods:
            raise ConfigError(
                f"--method {','.join(unknown) or '(empty)'}: valid methods are "
                f"{', '.join(ALL_METHODS)}, early-fusion rungs ({SIDE_HELP}) or all"
            )
        if self.epochs < 1:
            raise ConfigError("--epochs must be >= 1")
        if self.image_size < 32:
            raise ConfigError("--image-size must be >= 32")
        names = self.backbone.split(STACK_SEP)
        if len(set(names)) != len(names):
            raise ConfigError(f"--backbone {self.backbone}: name each stacked backbone once")
        if len(names) > 1 and self.weights not in ("auto", "none"):
            raise ConfigError(STACK_WEIGHTS_ERROR)

    def recipe(self) -> FeatureRecipe:
        """The embedding methods' features (the hybrid's too)."""
        return FeatureRecipe(self.image_size, self.flip_tta, tuple(self.taps), style=self.style)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
