"""Generated test images (no real cover art in the repository)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def jpeg(color: tuple[int, int, int] = (200, 30, 30), size: int = 128, quality: int = 90) -> bytes:
    img = Image.new("RGB", (size, size), color)
    for i in range(0, size, 8):  # some structure so re-encodes differ from the original
        img.paste((color[2], color[0], color[1]), (i, i, i + 4, i + 4))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(mode: str = "RGBA", size: int = 96) -> bytes:
    fill = {"RGBA": (10, 200, 10, 128), "L": 128, "LA": (128, 100), "P": 3}[mode]
    buf = io.BytesIO()
    Image.new(mode, (size, size), fill).save(buf, "PNG")
    return buf.getvalue()


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (1-bit, zero-filled rows)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    raw = zlib.compress(row * 64, 9)  # only a few rows: enough for a header-level check
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
