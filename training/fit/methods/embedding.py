"""The embedding rung (kNN, logreg, SVC, RF, CatBoost, ensemble, projected kNN/SVC on cached
backbone features), and what every rung on backbone features shares: features and labels per
split, and turning a fitted head into the common
:class:`~sleeve.training.fit.methods.MethodOutcome` (test probabilities, throughput, model.pt
payload). The hybrid rung reuses the helpers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sleeve.core.errors import ConfigError
from sleeve.core.vision.backbones import load_backbone
from sleeve.core.vision.embeddings import FeatureRecipe, cached_embeddings, encode
from sleeve.inference.classifier import package
from sleeve.inference.heads_runtime import head_probabilities
from sleeve.training.config import DEFAULT_METHODS, TrainConfig
from sleeve.training.fit.method_names import EMBEDDING_METHODS, PROJECTED_METHODS
from sleeve.training.fit.methods import FittedHead, MethodOutcome, RungContext
from sleeve.training.fit.methods.heads import EMBEDDING_FITTERS, catboost_available, fit_ensemble
from sleeve.training.fit.methods.knn import fit_knn
from sleeve.training.fit.methods.projected import fit_projected_methods

if TYPE_CHECKING:
    from sleeve.core.vision.backbones import Backbone
    from sleeve.training.data import Export


def split_labels(export: Export, split: str) -> np.ndarray:
    return np.array([s.label for s in export.split(split)], dtype=np.int64)


def export_features(
    export: Export,
    config: TrainConfig,
    backbone: Backbone,
    device: torch.device,
    cache_root: Path | None,
) -> np.ndarray:
    """The run's image features for every cover (rows follow ``export.samples``), cached."""
    return cached_embeddings(
        export.samples,
        backbone,
        config.recipe(),
        device,
        cache_root,
        batch_size=config.batch_size,
        progress=config.progress,
    )


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
    **extra: Any,
) -> MethodOutcome:
    """A head on backbone features: its test probabilities, throughput and model.pt payload."""
    test_probs = head_probabilities(fitted.head, x_test)
    ips = 1.0 / (per_image + head_seconds(fitted.head, x_test[:64]))
    payload = head_payload(export, config, fitted, backbone, recipe, **extra)
    return MethodOutcome(fitted, test_probs, ips, payload)


def head_payload(
    export: Export,
    config: TrainConfig,
    fitted: FittedHead,
    backbone: Backbone,
    recipe: FeatureRecipe,
    **extra: Any,
) -> dict:
    """model.pt for a head on backbone features (the embedding rungs and the side rungs)."""
    return package(
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


def backbone_seconds(
    export: Export, backbone: Backbone, recipe: FeatureRecipe, device: torch.device, n: int = 64
) -> float:
    """Seconds per image for decode + preprocess + forward, measured on test covers."""
    probe = export.split("test")[:n]
    start = time.perf_counter()
    encode(probe, backbone, recipe, device, batch_size=32, progress=False)
    return (time.perf_counter() - start) / max(1, len(probe))


def head_seconds(head: dict, x: np.ndarray) -> float:
    start = time.perf_counter()
    head_probabilities(head, x)
    return (time.perf_counter() - start) / max(1, len(x))


class EmbeddingRung:
    """Heads on the (cached) frozen backbone's features; shares the features with run.py."""

    names = (*EMBEDDING_METHODS, "ensemble", *PROJECTED_METHODS)

    def wanted(self, config: TrainConfig) -> bool:
        return any(m in self.names for m in config.methods)

    def fit(self, ctx: RungContext) -> list[MethodOutcome]:
        return run_embedding_methods(
            ctx.export, ctx.config, ctx.device, ctx.cache_root, ctx.features
        )


def run_embedding_methods(
    export: Export,
    config: TrainConfig,
    device: torch.device,
    cache_root: Path | None,
    features_out: dict | None = None,
) -> list[MethodOutcome]:
    """The heads on backbone features; ``features_out`` (optional) receives the features
    under "x" (rows follow ``export.samples``), for the label-issue scores."""
    wanted = [m for m in config.methods if m in EMBEDDING_METHODS]
    if "ensemble" in config.methods and not wanted:
        wanted = ["logreg", "svc"]
    if "catboost" in wanted and not catboost_available():
        if tuple(config.methods) != DEFAULT_METHODS:  # asked for by name: say what is missing
            raise ConfigError(
                "method catboost needs the optional extra: pip install 'sleeve[catboost]'"
            )
        wanted.remove("catboost")  # the default ladder goes on without the optional extra
    projected = [m for m in config.methods if m in PROJECTED_METHODS]
    if not wanted and not projected:
        return []
    backbone = load_backbone(config.backbone, config.weights, device)
    recipe = config.recipe()
    feats = export_features(export, config, backbone, device, cache_root)
    if features_out is not None:
        features_out["x"] = feats
    x, y = split_arrays(export, feats)
    per_image = backbone_seconds(export, backbone, recipe, device)
    fitted: list[FittedHead] = []
    for method in wanted:
        if method == "knn":
            fitted.append(fit_knn(x["train"], y["train"], x["val"], y["val"], export.genres))
        else:
            fitter = EMBEDDING_FITTERS[method]
            fitted.append(
                fitter(x["train"], y["train"], x["val"], y["val"], export.genres, seed=config.seed)
            )
    if projected:
        fitted += fit_projected_methods(projected, x, y, export.genres, seed=config.seed)
    if "ensemble" in config.methods and len(fitted) > 1:
        ens = fit_ensemble(fitted, y["val"], export.genres)
        members = ens.params["members"]
        ens.train_seconds += sum(f.train_seconds for f in fitted if f.method in members)
        fitted.append(ens)
    return [
        embedding_outcome(export, config, f, backbone, recipe, x["test"], per_image)
        for f in fitted
        if f.method in config.methods  # others were fitted only as ensemble members
    ]
