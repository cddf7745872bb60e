"""The hybrid rung: an SVC on the pretrained features joined with the fine-tuned network's.

The idea: the fine-tuned network learns what separates these genres but, trained on a few
thousand covers, forgets much of what ImageNet taught it; the frozen features keep that.
Measured on the shared covers it scores level with the stack SVC alone (README), so it is
asked for by name. The model is stored as a stack of the pretrained backbone(s) and the
fine-tuned copy, so ``Classifier`` and ``predict`` use it unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sleeve.core.vision.backbones import Backbone, join_backbones, load_backbone
from sleeve.core.vision.embeddings import (
    FeatureRecipe,
    cached_embeddings,
    encode,
    normalises_parts,
    views,
)
from sleeve.inference.heads_runtime import l2_normalise
from sleeve.training.data import Export
from sleeve.training.fit.methods import MethodOutcome
from sleeve.training.fit.methods.embedding import backbone_seconds, embedding_outcome, split_arrays
from sleeve.training.fit.methods.heads import fit_svc

if TYPE_CHECKING:
    from sleeve.training.config import TrainConfig


def hybrid_features(
    export: Export,
    pretrained: Backbone,
    tuned: Backbone,
    recipe: FeatureRecipe,
    device: torch.device,
    cache_root: Path | None,
    config: TrainConfig,
) -> np.ndarray:
    """What FeatureExtractor(join_backbones([pretrained, tuned]), recipe) computes, with the
    pretrained part taken from the embedding cache (per view, so flip-TTA matches exactly)."""
    per_view = []
    for view in views(recipe):
        frozen = cached_embeddings(
            export.samples,
            pretrained,
            view,
            device,
            cache_root,
            batch_size=config.batch_size,
            progress=config.progress,
        )
        own = encode(
            export.samples,
            tuned,
            view,
            device,
            batch_size=config.batch_size,
            progress=config.progress,
            desc="embedding (fine-tuned)",
        )
        per_view.append(
            np.hstack(
                [
                    _as_stack_part(pretrained, view, frozen),
                    _as_stack_part(tuned, view, own),
                ]
            )
        )
    return np.asarray(sum(per_view) / len(per_view))  # views' mean (sum's start 0 is an int)


def run_hybrid(
    export: Export,
    config: TrainConfig,
    device: torch.device,
    cache_root: Path | None,
    tuned: Backbone,
) -> MethodOutcome:
    start = time.perf_counter()
    pretrained = load_backbone(config.backbone, config.weights, device)
    recipe = config.recipe()
    feats = hybrid_features(export, pretrained, tuned, recipe, device, cache_root, config)
    x, y = split_arrays(export, feats)
    fitted = fit_svc(x["train"], y["train"], x["val"], y["val"], export.genres, seed=config.seed)
    fitted.method = "hybrid"
    fitted.train_seconds = time.perf_counter() - start
    joined = join_backbones([pretrained, tuned])
    per_image = backbone_seconds(export, joined, recipe, device)
    return embedding_outcome(
        export,
        config,
        fitted,
        joined,
        recipe,
        x["test"],
        per_image,
        fine_tuned_member=len(joined.members) - 1,
    )


def _as_stack_part(backbone: Backbone, recipe: FeatureRecipe, feats: np.ndarray) -> np.ndarray:
    """Features as they appear inside a stack, where every part is L2-normalised."""
    return feats if normalises_parts(backbone, recipe) else l2_normalise(feats)
