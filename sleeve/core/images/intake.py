"""Image intake: decide whether bytes are a usable cover before anything is stored.

Checks run cheapest first: magic bytes (HTML/JSON served as an image is common on CDNs and
error pages), then the header's declared size and shape (a decompression bomb, or a 143-byte
PNG declaring a 20000x1 strip that a resize would blow up to gigabytes, is refused before any
pixel is decoded: :func:`check_shape`, the one shape rule), then a full decode (truncated or
corrupt files). Readers that decode a file their own way open it with :func:`open_image`, which
applies the same header checks and leaves the decode (or a JPEG draft) to them. Every refusal is a
``BadImageError`` whose ``reason`` is one of :data:`REASONS`, a short code the harvest counts by.
Readers that decode a file their own way (pHash, attributes, OCR, training's probe) name a
failure with :func:`failure_reason`, so the same broken file is counted the same everywhere.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from sleeve.core.errors import BadImageError

# 50 Mpx is far above any real cover (CAA originals top out around 10-20 Mpx) and far below
# what exhausts memory on a 2-core laptop.
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MIN_SIDE = 64
# The shape rule. Covers are near square (fold-out sleeves and booklet spreads stay within
# about 4:1), while a strip is a memory attack: resizing its short side to 256 px, as the eval
# transform does, turns a 20000x1 PNG into a 5-Gpx picture. 10:1 and 20000 px admit every real
# cover and bound any resize of what passes to 10x its short side.
DEFAULT_MAX_ASPECT = 10
DEFAULT_MAX_SIDE = 20_000
# For paths read without a caller's cap (stored covers, exports): far above any cover (the
# intake cap is 15 MB by default) and small enough that a 2 GiB file is refused unread.
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
# Pillow modes holding more than 8 bits per sample (16-bit grey PNGs open as I;16 or I).
_HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})

_MAGIC: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
]
_BYTES_LITERAL = re.compile(r"""b(['"]).*?(?<!\\)\1""")
_EXT = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}

# Why an image could not be used: the one set of codes every reader counts by.
REASONS = frozenset(
    {
        "missing-file",  # no file at the path
        "not-a-file",  # a folder, FIFO, device or socket
        "link-outside-folder",  # a symbolic link where links are refused
        "unreadable",  # the operating system refused to read it (permissions, I/O error)
        "too-large",  # more bytes than the cap
        "empty",  # 0 bytes
        "html",  # an HTML page served instead of an image
        "json",  # a JSON document served instead of an image
        "not-an-image",  # no known image signature
        "unsupported-format",  # an image Pillow reads but covers are never stored as
        "bomb",  # declares more pixels than the cap
        "bad-shape",  # a side over the limit, or an aspect ratio over the limit (a strip)
        "too-small",  # a side under the minimum
        "truncated",  # the file ends before the image does
        "corrupt",  # the decoder rejected the data
    }
)
# What a reader that decodes a file itself catches and hands to failure_reason.
UNREADABLE: tuple[type[BaseException], ...] = (
    BadImageError,
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)


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
    # never echo the bytes themselves: they may be a secret a hostile URL or link pointed at
    raise BadImageError("not-an-image", "unknown file signature (not JPEG, PNG, GIF, WebP or BMP)")


def failure_reason(exc: BaseException, path: str | Path | None = None) -> str:
    """The :data:`REASONS` code for ``exc`` (one of :data:`UNREADABLE`) raised reading an image.

    Given the ``path``, a file Pillow cannot identify is sniffed, so an HTML page saved as
    ``.jpg`` reads ``html`` here exactly as it does at intake, not just ``corrupt``.
    """
    if isinstance(exc, BadImageError):
        return exc.reason
    if isinstance(exc, FileNotFoundError):
        return "missing-file"
    if isinstance(exc, IsADirectoryError):
        return "not-a-file"
    if isinstance(exc, Image.DecompressionBombError):
        return "bomb"
    if isinstance(exc, UnidentifiedImageError):
        if path is not None:
            try:
                with open(path, "rb") as fh:
                    sniff(fh.read(512))
            except BadImageError as refused:
                return refused.reason
            except OSError:
                pass
        return "corrupt"
    if isinstance(exc, OSError) and exc.errno is not None:  # the OS refused, not the decoder
        return "unreadable"
    return "truncated" if "truncated" in str(exc).lower() else "corrupt"


def check_shape(
    width: int,
    height: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    max_aspect: int = DEFAULT_MAX_ASPECT,
) -> None:
    """The one shape rule every image passes before its pixels are touched: at most
    ``max_pixels`` (``bomb``), no side over ``max_side`` and the long side at most
    ``max_aspect`` times the short one (``bad-shape``)."""
    if width * height > max_pixels:
        raise BadImageError("bomb", f"declares {width}x{height} px > {max_pixels} px")
    if max(width, height) > max_side:
        raise BadImageError("bad-shape", f"{width}x{height} px: a side over {max_side} px")
    if max(width, height) > max_aspect * min(width, height):
        raise BadImageError("bad-shape", f"{width}x{height} px: aspect ratio over {max_aspect}:1")


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
        with warnings.catch_warnings():  # the size check below decides, and says so once
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            width, height = img.size  # header only: nothing decoded yet
            if width * height > max_pixels:
                raise BadImageError("bomb", f"declares {width}x{height} px > {max_pixels} px")
            if min(width, height) < min_side:
                raise BadImageError("too-small", f"{width}x{height} px < {min_side} px")
            check_shape(width, height, max_pixels=max_pixels)
            _decode_fully(img, max_pixels)
            fmt = img.format or fmt
    except BadImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImageError("bomb", str(exc)) from None
    except UnidentifiedImageError:
        raise BadImageError("corrupt", "Pillow cannot identify the image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(failure_reason(exc), _without_bytes(str(exc))[:200]) from None
    if fmt not in _EXT:
        raise BadImageError("unsupported-format", fmt)
    return ImageInfo(hashlib.sha256(data).hexdigest(), width, height, fmt, len(data))


def _without_bytes(message: str) -> str:
    """A decoder's message with quoted file content (``chunk b'ADMI'``) left out."""
    return _BYTES_LITERAL.sub("<bytes>", message)


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


def read_image_bytes(path: Path, max_bytes: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file no larger than ``max_bytes``, checked before reading.

    Opened non-blocking so a FIFO cannot hang us, then ``fstat``-ed: only a regular file is
    read (not a FIFO, device or socket), and its size is checked before a byte is read; at
    most ``max_bytes + 1`` bytes are read, so a file growing meanwhile is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadImageError("missing-file", f"no such file: {path}") from None
    except IsADirectoryError:
        raise BadImageError("not-a-file", f"{path} is a folder, not an image file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise BadImageError("link-outside-folder", f"{path} is a symbolic link") from None
        raise BadImageError("unreadable", f"{path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # checked before fdopen, which refuses a folder itself
        os.close(fd)
        raise BadImageError("not-a-file", f"{path} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > max_bytes:
            raise BadImageError(
                "too-large", f"{path} is {info.st_size} bytes, over the {max_bytes}-byte cap"
            )
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise BadImageError("unreadable", f"{path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise BadImageError("too-large", f"{path} grew over the {max_bytes}-byte cap")
    return data


def open_image(
    source: bytes | str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Image.Image:
    """A file or bytes opened as a Pillow image, checked but not decoded: the door for readers
    that decode their own way (a JPEG draft, a grey-only hash, the first frame).

    The checks are the intake's up to the decode: a regular file within ``max_bytes`` (read
    before Pillow sees it), a known signature, and the header's size through :func:`check_shape`.
    """
    if isinstance(source, str | Path):
        data = read_image_bytes(Path(source), max_bytes)
    else:
        data = bytes(source)
        if len(data) > max_bytes:
            raise BadImageError("too-large", f"{len(data)} bytes > {max_bytes}")
    sniff(data)
    try:
        with warnings.catch_warnings():  # check_shape decides, and says so once
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadImageError("corrupt", "Pillow cannot identify the image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(failure_reason(exc), _without_bytes(str(exc))[:200]) from None
    try:
        check_shape(img.width, img.height, max_pixels=max_pixels)
    except BadImageError:
        img.close()
        raise
    return img


def to_8bit(img: Image.Image) -> Image.Image:
    """``img`` with high-bit-depth grey (16-bit PNG) scaled to 8-bit ``L``; others unchanged.

    Pillow's ``convert`` clips 16-bit samples at 255 (a 16-bit picture comes out nearly
    white), so the scale happens here, once, for every reader: intake, import, hashing, predict.
    """
    if img.mode not in _HIGH_BIT_MODES:
        return img
    wide = np.asarray(img.convert("I"), dtype=np.int64)
    return Image.fromarray(((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8))


def open_rgb(
    source: bytes | str | Path | Image.Image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Image.Image:
    """Any usable image as 8-bit RGB: first frame of an animation, alpha flattened on white,
    CMYK/grayscale/palette/16-bit converted. Raises ``BadImageError`` for unusable input.

    Paths and bytes pass the same intake (size cap before reading, magic bytes, size and
    shape check before decoding, full decode); an already opened image passes the shape rule
    before its pixels are loaded.
    """
    if isinstance(source, Image.Image):
        img = source
        check_shape(img.width, img.height, max_pixels=max_pixels)
    else:
        if isinstance(source, str | Path):
            data = read_image_bytes(Path(source), max_bytes)
        else:
            data = bytes(source)
            if len(data) > max_bytes:
                raise BadImageError("too-large", f"{len(data)} bytes > {max_bytes}")
        inspect_image(data, max_pixels=max_pixels, min_side=1)
        img = Image.open(io.BytesIO(data))
    if getattr(img, "is_animated", False):
        img.seek(0)
    img = to_8bit(ImageOps.exif_transpose(img))  # a copy (Pillow >= 9.4 never returns None)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")
