"""Decode a cover once for every extractor: RGB at two fixed scales."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sleeve.core.images.intake import open_image, open_rgb
from sleeve.dataset.attributes.base import CoverView

WORK_SIDE = 256  # colour, texture, structure: enough for global statistics, fast
FACE_SIDE = 512  # faces: a face 1/10 of the cover is still ~50 px, MTCNN's comfortable size


def load_view(path: str | Path | bytes) -> CoverView:
    """The cover at ``path`` (or its bytes) as a CoverView. Raises BadImageError/OSError if
    unreadable."""
    with open_image(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (FACE_SIDE, FACE_SIDE))  # DCT downscaling: a cheap decode
        # the intake's conversions: alpha on white, 16-bit, CMYK, frames
        return view_of(open_rgb(img))


def view_of(large: Image.Image) -> CoverView:
    """An RGB picture already through the intake (for a JPEG: draft-decoded at ``FACE_SIDE``,
    as ``load_view`` does) as a CoverView: what a model computes a new cover's attributes on."""
    large = large.copy()
    large.thumbnail((FACE_SIDE, FACE_SIDE), Image.Resampling.BILINEAR)
    small = large.copy()
    small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR)
    return CoverView(rgb=np.asarray(small, dtype=np.uint8), large=np.asarray(large, np.uint8))
