"""Training-time augmentation policies: ``simple``, ``randaugment``, ``gridmask``.

``simple`` is the study's "simple augmentation" (flip, random-resized crop, colour jitter).
Covers carry text and layout, so crops stay mild (scale >= 0.6) and there is no rotation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from sleeve.core.images.intake import DEFAULT_MAX_ASPECT

POLICIES = ("simple", "randaugment", "gridmask")


class LimitAspect:
    """Centre-crop the long side of a PIL image to ``max_aspect`` times the short one.

    The first step of every transform: the intake already refuses stranger shapes, but a
    transform must stay bounded on whatever it is handed, since resizing a 20000x1 strip's
    short side to 256 px asks for 5 Gpx. Covers within the ratio pass untouched.
    """

    def __init__(self, max_aspect: int = DEFAULT_MAX_ASPECT) -> None:
        self.max_aspect = max_aspect

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        keep_w, keep_h = min(w, self.max_aspect * h), min(h, self.max_aspect * w)
        if (keep_w, keep_h) == (w, h):
            return img
        left, top = (w - keep_w) // 2, (h - keep_h) // 2
        return img.crop((left, top, left + keep_w, top + keep_h))

    def __repr__(self) -> str:
        return f"LimitAspect(max_aspect={self.max_aspect})"


class NormalizedTensor:
    """``ToTensor()`` then ``Normalize(mean, std)`` as one table lookup per channel.

    Each byte value's float32 result is computed once by those very transforms, so the tensor
    is bit-identical to theirs. Their four elementwise passes over a 3 x 224 x 224 picture,
    each dispatched to torch's thread pool, cost as much as the network's ONNX graph on 2
    cores (benchmarks/stages.py); the lookup is one pass on the calling thread. Pictures that
    are not 8-bit RGB go through the transforms themselves.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.reference = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
        ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3))
        self.table = self.reference(ramp)[:, 0, :].numpy()  # (3, 256) float32

    def __call__(self, img: Image.Image) -> torch.Tensor:
        if img.mode != "RGB" or len(self.table) != 3:
            return self.reference(img)
        pixels = np.asarray(img)
        out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
        for c in range(3):
            np.take(self.table[c], pixels[:, :, c], out=out[c])
        return torch.from_numpy(out)

    def __repr__(self) -> str:
        return f"NormalizedTensor(lookup of {self.reference!r})"


class GridMask:
    """GridMask (Chen et al., 2020): drop a regular grid of squares from a tensor image.

    Each call picks a grid period ``d`` in [d_min, d_max] px, keeps ``ratio`` of each period
    and shifts the grid randomly, so the network cannot rely on any single region (a logo,
    a face) and has to use the whole cover.
    """

    def __init__(
        self, d_min: int = 24, d_max: int = 64, ratio: float = 0.6, p: float = 0.7
    ) -> None:
        if not 0 < ratio < 1:
            raise ValueError("ratio must be in (0, 1)")
        self.d_min, self.d_max, self.ratio, self.p = d_min, d_max, ratio, p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        _, h, w = img.shape
        d = int(torch.randint(self.d_min, self.d_max + 1, ()).item())
        keep = max(1, int(d * self.ratio))
        dy, dx = (int(v) for v in torch.randint(0, d, (2,)))
        ys = (torch.arange(h) + dy) % d >= keep
        xs = (torch.arange(w) + dx) % d >= keep
        drop = ys[:, None] & xs[None, :]  # squares of side d - keep at each grid cell
        return img.masked_fill(drop[None], 0.0)

    def __repr__(self) -> str:
        return f"GridMask(d=[{self.d_min},{self.d_max}], ratio={self.ratio}, p={self.p})"


def train_transform(
    policy: str,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    interpolation: str = "bicubic",
) -> Callable:
    if policy not in POLICIES:
        raise ValueError(f"unknown augmentation {policy!r}; valid: {', '.join(POLICIES)}")
    mode = T.InterpolationMode(interpolation)
    ops: list[Callable] = [
        LimitAspect(),
        T.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.85, 1.18), interpolation=mode),
        T.RandomHorizontalFlip(),
    ]
    if policy == "randaugment":
        ops.append(T.RandAugment(num_ops=2, magnitude=9, interpolation=mode))
    else:
        ops.append(T.ColorJitter(0.3, 0.3, 0.3, 0.03))
    ops += [T.ToTensor(), T.Normalize(mean, std)]
    if policy == "gridmask":
        # after normalisation, 0.0 is the dataset-mean colour: the mask hides, not paints black
        ops.append(GridMask(d_min=max(8, size // 8), d_max=max(16, size // 3)))
    return T.Compose(ops)
