"""One input (a path, a folder, an http(s) URL, bytes, a PIL image or a numpy array) as an RGB
image, through the same intake as harvested covers; shared by ``predict`` and ``Classifier``.

Files and bytes pass the size cap and ``inspect_image``/``open_rgb`` (HTML served as an image,
decompression bombs and truncated files are refused with a ``BadImageError`` naming the problem);
URLs go through the shared HTTP layer (service ``web``: its timeouts, retries and size cap).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from sleeve.core.errors import BadImageError, UsageError
from sleeve.core.images.intake import (
    check_shape,
    inspect_image,
    open_image,
    open_rgb,
    read_image_bytes,
)
from sleeve.core.settings import Settings

# Extensions a folder input is scanned for (case-insensitive); other files are ignored.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"})
# What every entry point accepts as one image.
ImageSource = str | Path | bytes | bytearray | memoryview | Image.Image | np.ndarray


# -- input resolution -------------------------------------------------------------------------


def is_url(text: str) -> bool:
    return urlparse(text).scheme.lower() in {"http", "https"}


def resolve_inputs(inputs: Iterable[str]) -> list[str]:
    """Expand folders into their image files (sorted, non-recursive, hidden files skipped).

    Paths and URLs are kept as given; a missing path stays in the list so that it is reported
    as a per-input error rather than silently dropped. A folder without images is kept as
    itself too (and reported as ``no-images``).
    """
    resolved: list[str] = []
    for raw in inputs:
        path = Path(raw)
        if not is_url(raw) and path.is_dir():
            files = sorted(
                str(p)
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
            )
            resolved.extend(files or [raw])
        else:
            resolved.append(raw)
    return resolved


# -- loading one input as an RGB image -----------------------------------------------------------


def image_from_bytes(data: bytes, settings: Settings, min_size: int = 0) -> Image.Image:
    """Bytes that passed the size cap and image intake, as RGB; raises ``BadImageError``.

    ``min_size`` > 0 decodes a JPEG at the smallest DCT scale still >= ``min_size`` (after
    the full intake check), exactly as training read the dataset, so a model sees the pixels
    it was evaluated on.
    """
    if len(data) > settings.max_image_bytes:
        raise BadImageError(
            "too-large", f"{len(data)} bytes is over the {settings.max_image_bytes}-byte cap"
        )
    if not min_size:
        return open_rgb(data)
    inspect_image(data, min_side=1)  # the full decode: truncated files are refused here too
    img = open_image(data)
    img.draft("RGB", (min_size, min_size))
    return open_rgb(img)


def read_image_file(path: Path, settings: Settings, min_size: int = 0) -> Image.Image:
    """A local regular file as RGB; type and size are checked before a single byte is read
    (a FIFO or device is refused, never waited on)."""
    if path.is_dir():
        raise BadImageError("no-images", f"folder {path} holds no image files")
    return image_from_bytes(read_image_bytes(path, settings.max_image_bytes), settings, min_size)


def image_from_array(array: np.ndarray) -> Image.Image:
    """A numpy image as RGB: HxW grey or HxWx{1,3,4}; uint8, uint16 (scaled to 8 bit), other
    integers within 0..255, or floats in [0, 1]. Anything else is ``BadImageError("bad-array")``.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or not array.size:
        raise BadImageError(
            "bad-array", f"shape {array.shape}: expected HxW, HxWx1, HxWx3 or HxWx4"
        )
    check_shape(array.shape[1], array.shape[0])  # before any conversion copies the pixels
    if array.dtype == np.uint16:
        array = ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise BadImageError("bad-array", "float images must hold values in [0, 1]")
        array = (array * 255).round().astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer) and array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise BadImageError("bad-array", f"{array.dtype} values outside 0..255")
        array = array.astype(np.uint8)
    elif array.dtype != np.uint8:
        raise BadImageError("bad-array", f"dtype {array.dtype}: expected integers or floats")
    return open_rgb(Image.fromarray(np.ascontiguousarray(array)))


class ImageLoader:
    """Turns one input into an RGB image through the one intake every entry point shares
    (the command, the app and ``Classifier.predict``): a path, an http(s) URL, bytes, a PIL
    image or a numpy array. Every refusal is a typed ``SleeveError`` with a one-line message.
    The HTTP client is created on first URL."""

    def __init__(self, settings: Settings, min_size: int = 0) -> None:
        self.settings = settings
        self.min_size = min_size  # files: JPEG draft decode at this size (see image_from_bytes)
        self._http: Any = None

    def _client(self) -> Any:
        if self._http is None:
            from sleeve.collector.http import http_client  # only URL inputs need requests

            # user-supplied URLs: non-public addresses refused unless SLEEVE_ALLOW_PRIVATE_URLS
            self._http = http_client(self.settings, "web", untrusted=True)
        return self._http

    def load(self, source: ImageSource) -> Image.Image:
        if isinstance(source, Image.Image):
            return open_rgb(source)
        if isinstance(source, np.ndarray):
            return image_from_array(source)
        if isinstance(source, bytes | bytearray | memoryview):
            return image_from_bytes(bytes(source), self.settings)
        if isinstance(source, Path):
            return read_image_file(source, self.settings, self.min_size)
        if not isinstance(source, str):
            raise UsageError(
                f"cannot read a {type(source).__name__}: pass a path, an http(s) URL, bytes, "
                "a PIL image or a numpy array"
            )
        if is_url(source):
            fetched = self._client().get_bytes(source, max_bytes=self.settings.max_image_bytes)
            return image_from_bytes(fetched.content, self.settings)
        if "://" in source:
            scheme = source.split("://", 1)[0]
            raise BadImageError("unsupported-url", f"{scheme}:// is not supported (use http/https)")
        return read_image_file(Path(source), self.settings, self.min_size)
