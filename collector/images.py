"""Image intake: decide whether bytes are a usable cover before anything is stored.

Checks run cheapest first: magic bytes (HTML/JSON served as an image is common on CDNs and
error pages), then the header's declared size (a decompression bomb is refused before any pixel
is decoded), then a full decode (truncated or corrupt files). Every refusal is a
``BadImageError`` whose ``reason`` is a short code the harvest counts by.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from sleeve.errors import BadImageError

# 50 Mpx is far above any real cover (CAA originals top out around 10-20 Mpx) and far below
# what exhausts memory on a 2-core laptop.
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MIN_SIDE = 64

_MAGIC: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
]
_EXT = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int
    height: int
    format: str  # JPEG | PNG | GIF | WEBP | BMP
    size_bytes: int

    @property
    def ext(self) -> str:
        return _EXT[self.format]


def sniff(data: bytes) -> str:
    """The image format named by the magic bytes, or a BadImageError saying what it is instead."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    head = data[:512].lstrip().lower()
    if not data:
        raise BadImageError("empty", "0 bytes")
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        raise BadImageError("html", "an HTML page was served instead of an image")
    if head[:1] in (b"{", b"["):
        raise BadImageError("json", "a JSON document was served instead of an image")
    raise BadImageError("not-an-image", f"unknown file signature {data[:8]!r}")


def inspect_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    max_bytes: int | None = None,
) -> ImageInfo:
    """Validate ``data`` as a cover and describe it; raises ``BadImageError(reason)``."""
    if max_bytes is not None and len(data) > max_bytes:
        raise BadImageError("too-large", f"{len(data)} bytes > {max_bytes}")
    fmt = sniff(data)
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size  # header only: nothing decoded yet
            if width * height > max_pixels:
                raise BadImageError("bomb", f"declares {width}x{height} px > {max_pixels} px")
            if min(width, height) < min_side:
                raise BadImageError("too-small", f"{width}x{height} px < {min_side} px")
            _decode_fully(img, max_pixels)
            fmt = img.format or fmt
    except BadImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImageError("bomb", str(exc)) from None
    except UnidentifiedImageError:
        raise BadImageError("corrupt", "Pillow cannot identify the image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
        raise BadImageError(reason, str(exc)[:200]) from None
    if fmt not in _EXT:
        raise BadImageError("unsupported-format", fmt)
    return ImageInfo(hashlib.sha256(data).hexdigest(), width, height, fmt, len(data))


def _decode_fully(img: Image.Image, max_pixels: int) -> None:
    # Pillow loads truncated JPEGs silently when LOAD_TRUNCATED_IMAGES is set by anyone in the
    # process; insist on complete files here.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except Image.DecompressionBombWarning as exc:
        raise BadImageError("bomb", str(exc)) from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def open_rgb(
    source: bytes | str | Path | Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Any usable image as 8-bit RGB: first frame of an animation, alpha flattened on white,
    CMYK/grayscale/palette converted. Raises ``BadImageError`` for unusable input."""
    if isinstance(source, Image.Image):
        img = source
    else:
        if isinstance(source, str | Path):
            try:
                data = Path(source).read_bytes()
            except FileNotFoundError:
                raise BadImageError("missing-file", str(source)) from None
            except OSError as exc:
                raise BadImageError("unreadable", f"{source}: {exc}") from None
        else:
            data = source
        inspect_image(data, max_pixels=max_pixels, min_side=1)
        img = Image.open(io.BytesIO(data))
    if getattr(img, "is_animated", False):
        img.seek(0)
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")
