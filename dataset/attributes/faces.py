"""Faces: how many, and how large the largest, with MTCNN (facenet-pytorch) or OpenCV Haar.

MTCNN's weights ship inside the facenet-pytorch wheel (no download). On shared covers labelled
by eye it finds more faces than Haar, and every face it found that Haar missed was real, drawn
faces included, while most of what Haar alone found was false (benchmarks/attributes.py,
benchmarks/results/attributes.json; docs/attributes.md).
So MTCNN is the default and Haar (always available: opencv-python-headless) the fallback.
The two are cached under different names: their counts are not interchangeable.

People: ``person`` and ``group`` are derived from the face count (a person = a visible face;
a group = 3 or more faces). No offline person detector that ships its weights was found, so a
person seen from behind or too small for a face is missed; say so when quoting the figures.
"""

from __future__ import annotations

import functools

import numpy as np

from sleeve.core.errors import ConfigError
from sleeve.dataset.attributes.base import CoverView, Extractor, Field, Values

MTCNN_MIN_PROB = 0.90  # the threshold measured in docs/offline-weights.md
GROUP_MIN = 3
FACENET_INSTALL = (
    "pip install --no-deps facenet-pytorch requests tqdm  (--no-deps: its declared pins "
    "would replace torch; `make install` does this)"
)


def _fields(detector: str) -> tuple[Field, ...]:
    return (
        Field("face_count", f"faces found by {detector}", "0, 1, 2, ..."),
        Field(
            "largest_face_share",
            "area of the largest face box / area of the cover",
            "0 (no face) .. 1",
        ),
        Field("person", "1 if face_count >= 1 (a person = a visible face), else 0", "0 or 1"),
        Field("group", f"1 if face_count >= {GROUP_MIN}, else 0", "0 or 1"),
    )


def _values(boxes: list[tuple[float, float, float, float]], h: int, w: int) -> Values:
    areas = [max(0.0, x1 - x0) * max(0.0, y1 - y0) for x0, y0, x1, y1 in boxes]
    share = min(1.0, max(areas, default=0.0) / float(h * w))
    n = len(boxes)
    return {
        "face_count": n,
        "largest_face_share": round(share, 4),
        "person": int(n >= 1),
        "group": int(n >= GROUP_MIN),
    }


def mtcnn_available() -> bool:
    """Installed? (Found, not imported: importing it loads torch in the parent process.)"""
    import importlib.util

    return importlib.util.find_spec("facenet_pytorch") is not None


@functools.cache
def _mtcnn():
    try:
        from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise ConfigError(
            f"the faces-mtcnn extractor needs facenet-pytorch: {FACENET_INSTALL}"
        ) from exc
    return MTCNN(keep_all=True, device="cpu", post_process=False)


def compute_mtcnn(view: CoverView) -> Values:
    img = view.large
    detector = _mtcnn()
    if min(img.shape[:2]) < detector.min_face_size:
        # no face of MTCNN's smallest size fits (a strip-shaped cover's 512 px view): none
        # found, as measured, instead of the library's error on an empty image pyramid
        return _values([], *img.shape[:2])
    boxes, probs = detector.detect(img)
    kept: list[tuple[float, float, float, float]] = []
    if boxes is not None:
        kept = [
            (float(x0), float(y0), float(x1), float(y1))
            for (x0, y0, x1, y1), p in zip(boxes, probs, strict=True)
            if p >= MTCNN_MIN_PROB
        ]
    return _values(kept, *img.shape[:2])


@functools.cache
def _haar():
    import cv2

    data = getattr(cv2, "data", None)
    if data is None or not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 ships no cascades
        raise ConfigError('the faces-haar extractor needs "opencv-python-headless<5"')
    return cv2.CascadeClassifier(data.haarcascades + "haarcascade_frontalface_default.xml")


def compute_haar(view: CoverView) -> Values:
    import cv2

    img = view.large
    grey = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    found = _haar().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]
    return _values(boxes, *img.shape[:2])


MTCNN = Extractor(
    name="faces-mtcnn",
    version=1,
    fields=_fields(f"MTCNN (facenet-pytorch, p >= {MTCNN_MIN_PROB})"),
    compute=compute_mtcnn,
    requires="facenet-pytorch",
    uses_torch=True,
    columns=("face_count", "largest_face_share", "person", "group"),
)
HAAR = Extractor(
    name="faces-haar",
    version=1,
    fields=_fields("OpenCV's frontal-face Haar cascade"),
    compute=compute_haar,
    requires="opencv-python-headless<5",
    columns=("face_count", "largest_face_share", "person", "group"),
)
