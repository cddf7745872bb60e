"""Texture: grey-level co-occurrence (GLCM) statistics and local binary pattern entropy.

scikit-image on the grey cover at most 256 px. Beside training's ``--style`` statistics (which
describe network feature maps), these describe the pixels themselves.
"""

from __future__ import annotations

import numpy as np

from sleeve.dataset.attributes.base import CoverView, Extractor, Field, Values

LEVELS = 32  # grey levels of the co-occurrence matrix: 256 would be sparse on a 256-px cover
_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
_LBP_P, _LBP_R = 8, 1  # 8 neighbours at radius 1, rotation-invariant uniform: 10 codes

FIELDS = (
    Field(
        "glcm_contrast",
        f"GLCM contrast (sum p(i,j)(i-j)²) at distance 1, mean of 4 angles, {LEVELS} grey "
        f"levels, divided by its maximum ({LEVELS - 1}²)",
        "0 (flat) .. 1 (every neighbour black/white opposite)",
    ),
    Field("glcm_homogeneity", "GLCM homogeneity (sum p/(1+(i-j)²)), mean of 4 angles", "0 .. 1"),
    Field(
        "glcm_energy",
        "GLCM energy (sqrt of the angular second moment), mean of 4 angles",
        "0 .. 1 (1: one grey level only)",
    ),
    Field(
        "glcm_correlation",
        "GLCM correlation of neighbouring grey levels, mean of 4 angles; 1 for a flat cover",
        "-1 .. 1",
    ),
    Field(
        "lbp_entropy",
        "entropy of the histogram of rotation-invariant uniform local binary patterns (P=8, "
        "R=1; 10 codes; border pixels excluded), divided by log(10)",
        "0 (one pattern everywhere) .. 1 (all patterns equally common)",
    ),
)


def _grey(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).clip(0, 255)


def compute(view: CoverView) -> Values:
    from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

    grey = _grey(view.rgb)
    quant = (grey * LEVELS / 256.0).astype(np.uint8)
    glcm = graycomatrix(quant, [1], _ANGLES, levels=LEVELS, symmetric=True, normed=True)
    # a flat cover (or an angle with no neighbour pairs) has no grey-level variance: its
    # correlation is 0/0, defined as 1 (the field's documented value), not a warning
    with np.errstate(divide="ignore", invalid="ignore"):
        props = {p: float(np.nan_to_num(graycoprops(glcm, p), nan=1.0).mean()) for p in
                 ("contrast", "homogeneity", "energy", "correlation")}  # fmt: skip
    codes = local_binary_pattern(grey.astype(np.uint8), _LBP_P, _LBP_R, method="uniform")
    inner = codes[_LBP_R:-_LBP_R, _LBP_R:-_LBP_R]  # border pixels see padding, not the cover
    if not inner.size:  # a view 2 px thin has no inner pixel: one (empty) pattern
        inner = codes
    hist = np.bincount(inner.astype(int).ravel(), minlength=_LBP_P + 2) / max(inner.size, 1)
    nz = hist[hist > 0]
    return {
        "glcm_contrast": round(props["contrast"] / (LEVELS - 1) ** 2, 5),
        "glcm_homogeneity": round(props["homogeneity"], 4),
        "glcm_energy": round(props["energy"], 4),
        "glcm_correlation": round(props["correlation"], 4),
        "lbp_entropy": round(float(-(nz * np.log(nz)).sum() / np.log(_LBP_P + 2)), 4),
    }


EXTRACTOR = Extractor(
    name="texture",
    version=1,
    fields=FIELDS,
    compute=compute,
    requires="scikit-image",
    columns=tuple(f.name for f in FIELDS),
)
