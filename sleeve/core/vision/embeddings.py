"""Encode once, fit many: cover embeddings computed once per (backbone, weights, recipe).

The cache lives under ``<data_dir>/cache/embeddings/<backbone>-<weights>-<recipe>/`` as
``features.npy`` + ``sha256.txt`` (row i belongs to line i). It is keyed by each image's
sha256, not by dataset, so a rebuilt dataset (new id, mostly the same covers) only encodes
the covers it has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from sleeve.core.fsutil import atomic_path, atomic_write
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar
from sleeve.core.vision import runtime
from sleeve.core.vision.backbones import Backbone, eval_transform
from sleeve.core.vision.samples import CoverDataset, Sample, make_loader


@dataclass(frozen=True)
class FeatureRecipe:
    """How an image becomes a vector. ``taps`` pools extra intermediate stages (indices into
    ``Backbone.stages``) next to the final pooled features; ``style`` adds the per-channel
    standard deviation of the three stages before the head (texture and contrast statistics,
    as in style transfer: it raised weighted F1 on the shared covers on three splits,
    docs/results.md); ``flip_tta`` averages the features of the image and its mirror image."""

    size: int = 224
    flip_tta: bool = False
    taps: tuple[int, ...] = ()
    mirror: bool = False  # encode the mirror image only: one half of flip_tta, cached alone
    style: bool = False

    @property
    def key(self) -> str:
        # "-taps": parts are L2-normalised one by one (older caches used "-t", unnormalised)
        taps = "-taps" + ".".join(map(str, self.taps)) if self.taps else ""
        view = "-flip" if self.flip_tta else "-mirror" if self.mirror else ""
        return f"{self.size}px{view}{taps}{'-style' if self.style else ''}"

    def to_dict(self) -> dict:
        return {**asdict(self), "taps": list(self.taps)}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureRecipe:
        return cls(
            int(d["size"]),
            bool(d.get("flip_tta", False)),
            tuple(d.get("taps", ())),
            bool(d.get("mirror", False)),
            bool(d.get("style", False)),
        )


STYLE_STAGES = (-4, -3, -2)  # counted from the head: Lite's blocks 4-6, ResNet's layer1-3


class FeatureExtractor(nn.Module):
    """Normalised image batch -> feature batch, following a :class:`FeatureRecipe`.

    One pooled part: returned as it is. Several (taps, style statistics, stack members):
    each is L2-normalised and they are concatenated, so that every part counts alike."""

    def __init__(self, backbone: Backbone, recipe: FeatureRecipe) -> None:
        super().__init__()
        parts = backbone.members or [backbone]
        self.by_stage = bool(recipe.taps or recipe.style)
        if self.by_stage and not all(b.stages for b in parts):
            raise ValueError(f"{backbone.name} exposes no stages to tap")
        self.models = nn.ModuleList(b.model for b in parts)
        self.stages = nn.ModuleList(
            nn.ModuleList(b.stages) for b in (parts if self.by_stage else [])
        )
        self.recipe = recipe
        self.normalise = normalises_parts(backbone, recipe)

    def _member(self, i: int, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.by_stage:
            return [self.models[i](x)]
        stages = cast(nn.ModuleList, self.stages[i])  # a ModuleList of ModuleLists (__init__)
        n = len(stages)
        style = {n + j for j in STYLE_STAGES} if self.recipe.style else set()
        pooled, h = [], x
        for j, stage in enumerate(stages):
            h = stage(h)
            if j in self.recipe.taps or j == n - 1:
                pooled.append(h.mean(dim=(2, 3)))
            if j in style:
                pooled.append(h.std(dim=(2, 3)))
        return pooled

    def _once(self, x: torch.Tensor) -> torch.Tensor:
        parts = [p for i in range(len(self.models)) for p in self._member(i, x)]
        if not self.normalise:
            return parts[0]
        return torch.cat([nn.functional.normalize(p, dim=1) for p in parts], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.recipe.mirror:
            x = torch.flip(x, dims=[3])
        feats = self._once(x)
        if self.recipe.flip_tta:
            feats = (feats + self._once(torch.flip(x, dims=[3]))) / 2
        return feats


def normalises_parts(backbone: Backbone, recipe: FeatureRecipe) -> bool:
    """Whether FeatureExtractor L2-normalises its output part by part (several parts), or
    returns a lone part as it is."""
    return len(backbone.members) > 1 or bool(recipe.taps) or recipe.style


def views(recipe: FeatureRecipe) -> list[FeatureRecipe]:
    """The single views a recipe averages: plain, plus the mirror image under flip-TTA."""
    plain = replace(recipe, flip_tta=False, mirror=False)
    return [plain, replace(plain, mirror=True)] if recipe.flip_tta else [plain]


def extractor_for(
    backbone: Backbone,
    recipe: FeatureRecipe,
    device: torch.device,
    *,
    engine: str | None = None,
    threads: int | None = None,
) -> runtime.Extractor:
    """The one inference path for (backbone, recipe): eager, or its exported ONNX graph when
    that measured faster here (:mod:`sleeve.vision.runtime`)."""
    extractor = FeatureExtractor(backbone, recipe).eval().to(device)
    size = recipe.size
    return runtime.feature_extractor(
        extractor, backbone.name, recipe.key, size, device, threads=threads, engine=engine
    )


def cache_dir_for(root: Path, backbone: Backbone, recipe: FeatureRecipe) -> Path:
    return root / f"{backbone.name}-{backbone.weights_tag}-{recipe.key}"


@torch.inference_mode()
def encode(
    samples: Sequence[Sample],
    backbone: Backbone,
    recipe: FeatureRecipe,
    device: torch.device,
    *,
    batch_size: int = 32,
    workers: int = 0,
    progress: Progress = True,
    desc: str = "embedding",
    engine: str | None = None,
) -> np.ndarray:
    """Features of ``samples`` in order; ``engine`` forces ``torch`` or ``onnxruntime`` (None:
    the process's setting, see :mod:`sleeve.vision.runtime`)."""
    extractor = extractor_for(backbone, recipe, device, engine=engine)
    transform = eval_transform(recipe.size, backbone.mean, backbone.std, backbone.interpolation)
    loader = make_loader(
        CoverDataset(samples, transform, min_size=recipe.size), batch_size, workers=workers
    )
    out = []
    bar = progress_bar(len(samples), desc, progress=progress, leave=False)
    for x, _ in loader:
        x = x.to(device)
        if device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", enabled=device.type == "cuda"):
            out.append(extractor(x).float().cpu().numpy())
        bar.update(len(x))
    bar.close()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def cached_embeddings(
    samples: Sequence[Sample],
    backbone: Backbone,
    recipe: FeatureRecipe,
    device: torch.device,
    cache_root: Path | None,
    *,
    batch_size: int = 32,
    progress: Progress = True,
) -> np.ndarray:
    """Features for ``samples`` (in order), encoding only covers missing from the cache.

    Flip TTA is cached as its two views (plain, mirror) so the plain features that the
    other methods use are computed once, not twice."""
    if recipe.flip_tta and cache_root is not None:
        plain, mirror = (
            cached_embeddings(
                samples, backbone, r, device, cache_root, batch_size=batch_size, progress=progress
            )
            for r in views(recipe)
        )
        return (plain + mirror) / 2
    if cache_root is None:
        return encode(samples, backbone, recipe, device, batch_size=batch_size, progress=progress)
    folder = cache_dir_for(cache_root, backbone, recipe)
    shas, feats = _read_cache(folder)
    row = {sha: i for i, sha in enumerate(shas)}
    missing, seen = [], set()
    for s in samples:
        if s.sha256 not in row and s.sha256 not in seen:
            missing.append(s)
            seen.add(s.sha256)
    if missing:
        new = encode(
            missing,
            backbone,
            recipe,
            device,
            batch_size=batch_size,
            progress=progress,
            desc=f"embedding {len(missing)} new covers",
        )
        feats = new if feats is None else np.concatenate([feats, new])
        for s in missing:
            row[s.sha256] = len(shas)
            shas.append(s.sha256)
        _write_cache(folder, shas, feats)
    assert feats is not None  # samples is non-empty or nothing was asked
    return feats[[row[s.sha256] for s in samples]]


def cached_shas(cache_root: Path, backbone: Backbone, recipe: FeatureRecipe) -> set[str]:
    """The sha256s whose features are already cached for (backbone, recipe)."""
    return set(_read_cache(cache_dir_for(cache_root, backbone, recipe))[0])


def add_to_cache(
    cache_root: Path,
    backbone: Backbone,
    recipe: FeatureRecipe,
    shas: Sequence[str],
    feats: np.ndarray,
) -> int:
    """Store features computed elsewhere (the build's per-cover pass) in the cache; covers
    already there are kept as they are. Returns how many rows were added."""
    folder = cache_dir_for(cache_root, backbone, recipe)
    old_shas, old = _read_cache(folder)
    have = set(old_shas)
    rows = []
    for i, sha in enumerate(shas):
        if sha not in have:
            rows.append(i)
            have.add(sha)
    if not rows:
        return 0
    new = np.asarray(feats, dtype=np.float32)[rows]
    _write_cache(
        folder,
        old_shas + [shas[i] for i in rows],
        new if old is None else np.concatenate([old, new]),
    )
    return len(rows)


def _read_cache(folder: Path) -> tuple[list[str], np.ndarray | None]:
    feats_path, shas_path = folder / "features.npy", folder / "sha256.txt"
    if not (feats_path.is_file() and shas_path.is_file()):
        return [], None
    shas = shas_path.read_text(encoding="ascii").split()
    feats = np.load(feats_path)
    if len(shas) != len(feats):  # a torn write from an older crash: start over
        return [], None
    return shas, feats


def _write_cache(folder: Path, shas: list[str], feats: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # features first, then the index that makes them visible: a crash in between leaves a
    # length mismatch, which _read_cache treats as "no cache"
    with atomic_path(folder / "features.npy", suffix=".npy") as tmp:
        np.save(tmp, feats.astype(np.float32))
    atomic_write(folder / "sha256.txt", "\n".join(shas) + "\n")
