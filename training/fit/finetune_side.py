"""The cover's attributes as extra inputs to the fine-tuned network's classifier layer.

With ``TrainConfig.finetune_attributes`` the export's attributes.csv columns of the side
features' groups (colour, texture, structure, faces: what ``attrs`` takes), standardised on
train (one unit of variance per column; an unmeasured value is the train mean, i.e. 0), are
concatenated to the pooled image features before the last linear layer. model.pt stores the
scaling as a side block (sleeve/inference/side_features.py) beside an identity image block, so
``Classifier`` computes the same vector for a new cover and applies the same linear head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from sleeve.core.errors import ConfigError
from sleeve.core.vision.samples import CoverDataset, Sample
from sleeve.inference.side_features import (
    ATTR_GROUPS,
    ATTRS_MISSING,
    Block,
    SideFeatures,
    check_extractors,
    fit_attr_block,
    read_attribute_table,
    side_groups,
)
from sleeve.training.data import Export


@dataclass
class NetAttributes:
    block: Block
    by_sha: dict[str, np.ndarray]  # sha256 -> the scaled vector (float32)

    @property
    def dims(self) -> int:
        return self.block.dims

    def rows(self, samples: Sequence[Sample]) -> np.ndarray:
        return np.stack([self.by_sha[s.sha256] for s in samples]).reshape(len(samples), self.dims)

    def side(self, feature_dim: int) -> SideFeatures:
        """The model.pt block: the pooled features as they are, then the scaled attributes."""
        image = Block("image", np.zeros(feature_dim), np.ones(feature_dim), 1.0)
        return SideFeatures([image, self.block])


def net_attributes(export: Export) -> NetAttributes:
    table = read_attribute_table(export.dataset)
    if table is None:
        raise ConfigError(f"--finetune-attributes: {ATTRS_MISSING}")
    table = side_groups(table)  # not the style label or the OCR's text share (no extractor)
    if not table.columns:
        raise ConfigError(
            f"--finetune-attributes: the export's attributes.csv has no {', '.join(ATTR_GROUPS)} "
            "columns: rebuild it with build-dataset --attributes on"
        )
    check_extractors(table.extractors)
    empty = np.full(len(table.columns), np.nan)
    raw = {s.sha256: table.rows.get(s.sha256, empty) for s in export.samples}
    train = np.stack([raw[s.sha256] for s in export.split("train")])
    block = fit_attr_block(train, table.columns, table.extractors, weight=len(table.columns))
    scaled = block.transform(np.stack(list(raw.values()))).astype(np.float32)
    return NetAttributes(block, dict(zip(raw, scaled, strict=True)))


class AttributeCoverDataset(Dataset):
    """``CoverDataset`` items with the cover's attribute vector: (image, label, attributes)."""

    def __init__(self, base: CoverDataset, attrs: NetAttributes) -> None:
        self.base = base
        self.vectors = torch.from_numpy(attrs.rows(base.samples))

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        x, y = self.base[index]
        return x, y, self.vectors[index]
