"""Generated covers with printed words, for the OCR tests (a TTF font bundled with matplotlib)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"


def worded(
    word: str,
    *,
    size: int = 300,
    background: tuple[int, int, int] = (245, 235, 200),
    font_size: int = 52,
) -> Image.Image:
    """A plain cover with ``word`` in big dark block letters across the middle."""
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), font_size)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
    xy = ((size - (right - left)) // 2, (size - (bottom - top)) // 2)
    draw.text(xy, word, font=font, fill=(20, 20, 30))
    return img


def worded_jpeg(word: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    # kw are worded()'s own keyword options
    worded(word, **kw).save(buf, "JPEG", quality=92)  # type: ignore[arg-type]
    return buf.getvalue()
