"""Structure: edge density and left-right symmetry (OpenCV, numpy), cover at most 256 px."""

from __future__ import annotations

import cv2
import numpy as np

from sleeve.dataset.attributes.base import CoverView, Extractor, Field, Values

_CANNY = (100, 200)  # fixed thresholds: comparable across covers (an adaptive one is not)
_SYM_SIDE = 64  # symmetry compares coarse layout, not pixel noise or JPEG blocks

FIELDS = (
    Field(
        "edge_density",
        f"share of pixels on a Canny edge (thresholds {_CANNY[0]}/{_CANNY[1]}, grey, 256 px)",
        "0 (flat) .. ~0.5 (busy)",
    ),
    Field(
        "symmetry_lr",
        f"1 - mean |grey - mirrored grey| / 255, cover resized to {_SYM_SIDE}x{_SYM_SIDE}",
        "0 .. 1 (1: perfect mirror image left-right)",
    ),
)


def compute(view: CoverView) -> Values:
    grey = cv2.cvtColor(np.ascontiguousarray(view.rgb), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, *_CANNY)
    small = cv2.resize(grey, (_SYM_SIDE, _SYM_SIDE), interpolation=cv2.INTER_AREA).astype(float)
    return {
        "edge_density": round(float((edges > 0).mean()), 4),
        "symmetry_lr": round(float(1.0 - np.abs(small - small[:, ::-1]).mean() / 255.0), 4),
    }


EXTRACTOR = Extractor(
    name="structure",
    version=1,
    fields=FIELDS,
    compute=compute,
    columns=("edge_density", "symmetry_lr"),
)
