"""Is this the same artwork, captured differently? Local features + a geometric check.

Two copies of one album (scanned twice, photographed, cropped, re-encoded, stickered) share
hundreds of local keypoints that one homography (the plane of the sleeve seen from another
angle) maps onto each other. Two releases built on one template (centre labels of different
singles on one record label, one photo laid out as two albums) share keypoints too, but only
on the common part. So a pair is confirmed when the RANSAC homography between ORB keypoints
has enough inliers AND, with one cover warped onto the other, few of the textured blocks
disagree (normalised cross-correlation per block: indifferent to brightness, contrast and
colour shifts, not to a different title or layout). Thresholds: :mod:`sleeve.dataset.dedup.visual`.

A second look, for re-captures that check cannot see:
* a near-featureless sleeve (a flat colour and a small title) has too few keypoints for a
  homography at all (< ``FEW_KEYPOINTS``): the two covers, plainly resized to 32 px, must then
  agree in layout (grey-level correlation >= ``PLAIN_NCC``) and in colour (mean absolute RGB
  difference <= ``PLAIN_DIFF``).

ORB (binary, patent-free, a few ms per 320 px image) with Lowe's ratio test; OpenCV 4.x,
imported lazily so that the rest of the builder works without it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from sleeve.core.engine import Engine, LocalEngine
from sleeve.core.images.intake import UNREADABLE, open_image
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar

SIDE = 320  # longest side the covers are reduced to before keypoint detection
N_FEATURES = 1000
RATIO = 0.8  # Lowe's ratio test on the two nearest Hamming neighbours
RANSAC_PX = 6.0  # reprojection error in pixels at SIDE
BLOCK = 24  # disagreement check: block side in pixels at SIDE
SIGMA = 1.0  # blur before comparing: tolerates a pixel of misalignment, keeps glyph shapes
MIN_NCC = 0.5  # a block agrees when its normalised cross-correlation reaches this
_TEXTURE = 6.0  # grey-level std of a block worth comparing
_FLAT = 2.0  # std under which a block is flat (a sticker over texture, a blank band)
FEW_KEYPOINTS = 50  # under this on either side, a cover is near-featureless
THUMB = 32  # side of the plain-resized colour thumbnail compared for featureless covers
PLAIN_NCC = 0.7  # grey-level correlation of two featureless covers' thumbnails
PLAIN_DIFF = 30.0  # their mean absolute RGB difference (0..255)
PAIRS_PER_BATCH = 32  # pairs per engine batch (a few ms each: enough to amortise a task)
KEYPOINTS_KEPT = 256  # covers whose keypoints a worker keeps between pairs

CoverRef = tuple[str, str]  # a cover as (sha256, path relative to the store root)


@dataclass(frozen=True)
class Match:
    """The geometric evidence that two covers show the same artwork."""

    inliers: int  # keypoint matches consistent with the best homography
    matches: int  # matches passing the ratio test
    coverage: float  # min over both images of inlier hull area / image area (0..1)
    # share of textured blocks that disagree once the second image is warped onto the first
    # (0..1; 1.0 when there is no homography to warp with)
    disagreement: float = 1.0
    # featureless covers only (fewer than FEW_KEYPOINTS on either side): their thumbnails'
    # grey-level correlation and mean absolute RGB difference; None otherwise
    plain: tuple[float, float] | None = None

    def passes(self, min_inliers: int, max_disagreement: float) -> bool:
        if self.plain is not None:
            return self.plain[0] >= PLAIN_NCC and self.plain[1] <= PLAIN_DIFF
        return self.inliers >= min_inliers and self.disagreement <= max_disagreement


NO_MATCH = Match(0, 0, 0.0)


@dataclass(frozen=True)
class Keypoints:
    points: np.ndarray  # (n, 2) float32, pixel coordinates
    descriptors: np.ndarray | None  # (n, 32) uint8
    area: float  # image area in pixels
    gray: np.ndarray  # the image the keypoints were found in
    thumb: np.ndarray | None = None  # (THUMB, THUMB, 3) float32 RGB, plainly resized


def load_gray(path: str | Path, side: int = SIDE) -> np.ndarray:
    """The cover as a uint8 grayscale array, longest side ``side`` (JPEG draft decode)."""
    return load_cover(path, side)[0]


def load_cover(path: str | Path, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """The cover as a uint8 grayscale array, longest side ``side`` (JPEG draft decode), and
    its (THUMB, THUMB, 3) float32 RGB thumbnail, aspect ignored."""
    with open_image(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (side, side))
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((side, side), Image.Resampling.BILINEAR)
        thumb = img.resize((THUMB, THUMB), Image.Resampling.BOX)
        return np.asarray(img.convert("L"), dtype=np.uint8), np.asarray(thumb, np.float32)


def keypoints(gray: np.ndarray, thumb: np.ndarray | None = None) -> Keypoints:
    import cv2

    orb = cv2.ORB.create(nfeatures=N_FEATURES, fastThreshold=10)
    kps, desc = orb.detectAndCompute(gray, None)
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return Keypoints(pts, desc, float(gray.shape[0] * gray.shape[1]), gray, thumb)


def plain_agreement(ta: np.ndarray, tb: np.ndarray) -> tuple[float, float]:
    """Grey-level correlation and mean absolute RGB difference of two thumbnails."""
    ga, gb = ta.mean(axis=2).ravel(), tb.mean(axis=2).ravel()
    ga, gb = ga - ga.mean(), gb - gb.mean()
    ncc = float(ga @ gb / np.sqrt(max(float(ga @ ga) * float(gb @ gb), 1e-6)))
    return round(ncc, 4), round(float(np.abs(ta - tb).mean()), 2)


def _hull_fraction(points: np.ndarray, area: float) -> float:
    import cv2

    if len(points) < 3:
        return 0.0
    hull = cv2.convexHull(points.reshape(-1, 1, 2))
    return float(cv2.contourArea(hull)) / area


def match(a: Keypoints, b: Keypoints) -> Match:
    """Ratio-test matches between ``a`` and ``b``, then a RANSAC homography."""
    import cv2

    if min(len(a.points), len(b.points)) < FEW_KEYPOINTS:
        # near-featureless: too few keypoints for a homography to mean anything
        if a.thumb is None or b.thumb is None:
            return NO_MATCH
        return Match(0, 0, 0.0, plain=plain_agreement(a.thumb, b.thumb))
    if a.descriptors is None or b.descriptors is None:
        return NO_MATCH
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 8:
        return Match(0, len(good), 0.0)
    src = a.points[[m.queryIdx for m in good]]
    dst = b.points[[m.trainIdx for m in good]]
    cv2.setRNGSeed(0)  # RANSAC samples at random: the same pair must get the same verdict
    # None when RANSAC finds no model (OpenCV's stubs leave that out)
    found: tuple[np.ndarray | None, np.ndarray | None] = cv2.findHomography(
        src, dst, cv2.RANSAC, RANSAC_PX, maxIters=2000, confidence=0.995
    )
    h, mask = found
    if h is None or mask is None:
        return Match(0, len(good), 0.0)
    keep = mask.ravel().astype(bool)
    coverage = min(_hull_fraction(src[keep], a.area), _hull_fraction(dst[keep], b.area))
    return Match(int(keep.sum()), len(good), round(coverage, 4), disagreement(a.gray, b.gray, h))


def disagreement(
    ga: np.ndarray,
    gb: np.ndarray,
    h: np.ndarray,
    *,
    block: int = BLOCK,
    sigma: float = SIGMA,
    min_ncc: float = MIN_NCC,
) -> float:
    """Warp ``gb`` onto ``ga`` with homography ``h`` (a -> b) and compare block by block.

    A block counts when either image has texture in it (std >= ``_TEXTURE``) and it lies fully
    inside the warped frame; it disagrees when its zero-mean normalised cross-correlation is
    under ``min_ncc`` (or one side is flat where the other is not). Correlation ignores
    brightness and contrast, so colour-shifted rescans agree; a sticker or an obi strip is a
    few blocks; a different title on the same template, or the same photo laid out
    differently, is many."""
    import cv2

    hgt, wid = ga.shape
    inv = np.linalg.inv(h)
    warped = cv2.warpPerspective(gb, inv, (wid, hgt), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full(gb.shape, 255, np.uint8), inv, (wid, hgt)) == 255
    a = cv2.GaussianBlur(ga.astype(np.float32), (0, 0), sigma)
    b = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), sigma)
    ny, nx = hgt // block, wid // block
    if ny == 0 or nx == 0:
        return 1.0

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[: ny * block, : nx * block].reshape(ny, block, nx, block).swapaxes(1, 2)

    pa, pb = blocks(a).reshape(ny, nx, -1), blocks(b).reshape(ny, nx, -1)
    full = blocks(inside).reshape(ny, nx, -1).all(axis=2)
    sa, sb = pa.std(axis=2), pb.std(axis=2)
    counted = full & (np.maximum(sa, sb) >= _TEXTURE)
    if not counted.any():
        return 1.0
    cov = ((pa - pa.mean(axis=2, keepdims=True)) * (pb - pb.mean(axis=2, keepdims=True))).mean(2)
    ncc = cov / np.maximum(sa * sb, 1e-6)
    bad = (np.minimum(sa, sb) < _FLAT) | (ncc < min_ncc)
    return round(float((bad & counted).sum() / counted.sum()), 4)


def verify_pairs(
    pairs: Sequence[tuple[int, int]],
    covers: Sequence[CoverRef],
    root: str | Path = "",
    *,
    engine: Engine | None = None,
    progress: Progress = False,
) -> dict[tuple[int, int], Match]:
    """Match every pair of ``covers`` (index -> (sha256, path relative to ``root``)) on
    ``engine`` (default: in this process); unreadable images: NO_MATCH. Workers read the
    covers themselves, so only the pairs' names travel; the result is keyed as ``pairs``."""
    engine = engine or LocalEngine(1)
    jobs = [(covers[i], covers[j]) for i, j in pairs]
    found: dict[tuple[CoverRef, CoverRef], Match] = {}
    check = functools.partial(match_batch, str(root))
    try:
        with progress_bar(len(jobs), "checking look-alikes", "pair", progress=progress) as bar:
            for batch, results in engine.map_batches(check, jobs, PAIRS_PER_BATCH):
                found.update(zip(batch, results, strict=True))
                bar.update(len(batch))
    finally:
        _cover_keypoints.cache_clear()  # in-process: the driver keeps no pictures after
    return {(i, j): found[job] for (i, j), job in zip(pairs, jobs, strict=True)}


def match_batch(root: str, batch: Sequence[tuple[CoverRef, CoverRef]]) -> list[Match]:
    """The engine's unit of work: the verdict of each pair of covers in ``batch``."""
    out = []
    for a, b in batch:
        ka, kb = _cover_keypoints(root, *a), _cover_keypoints(root, *b)
        out.append(NO_MATCH if ka is None or kb is None else match(ka, kb))
    return out


# a worker keeps the keypoints of the covers it saw last: pairs come sorted by their first
# cover, and a cover's neighbours meet it again in later batches (~140 kB each at SIDE)
@functools.lru_cache(maxsize=KEYPOINTS_KEPT)
def _cover_keypoints(root: str, sha256: str, rel: str) -> Keypoints | None:
    try:
        return keypoints(*load_cover(Path(root) / rel))
    except UNREADABLE:
        return None
