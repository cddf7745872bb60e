"""The eval transform's table lookup gives torchvision's ToTensor + Normalize, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sleeve.core.vision.augment import NormalizedTensor
from sleeve.core.vision.backbones import IMAGENET_MEAN, IMAGENET_STD, eval_transform


@pytest.mark.parametrize(
    ("shape", "mean", "std"),
    [
        ((300, 300, 3), IMAGENET_MEAN, IMAGENET_STD),
        ((511, 237, 3), IMAGENET_MEAN, IMAGENET_STD),
        ((224, 224, 3), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # the Lite backbones' statistics
    ],
)
def test_the_lookup_transform_equals_torchvision_bit_for_bit(
    shape: tuple[int, int, int], mean: tuple[float, ...], std: tuple[float, ...]
) -> None:
    rng = np.random.default_rng(shape[0])
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    fast = eval_transform(224, mean, std, "bicubic")
    reference = eval_transform(224, mean, std, "bicubic", lookup=False)
    got, want = fast(img), reference(img)
    assert got.dtype == want.dtype == torch.float32
    assert got.shape == want.shape == (3, 224, 224)
    assert torch.equal(got, want)


def test_every_byte_value_maps_as_torchvision_maps_it() -> None:
    """Each channel sees all 256 values, in another order per channel."""
    lookup = NormalizedTensor(IMAGENET_MEAN, IMAGENET_STD)
    rng = np.random.default_rng(0)
    every = np.stack([rng.permutation(256) for _ in range(3)], axis=1).astype(np.uint8)
    img = Image.fromarray(every.reshape(16, 16, 3))
    assert torch.equal(lookup(img), lookup.reference(img))


def test_a_picture_that_is_not_rgb_takes_the_reference_path() -> None:
    lookup = NormalizedTensor((0.5,), (0.5,))
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8))
    assert torch.equal(lookup(grey), lookup.reference(grey))
