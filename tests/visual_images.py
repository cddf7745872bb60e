"""Generated covers for the visual duplicate stage: an artwork, its re-capture, a look-alike.

No real cover art: shapes, lines and text drawn from a seed, rich enough in corners for
keypoint matching, like printed sleeves.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageEnhance, ImageFont

SIZE = 400
WORDS = [
    "the",
    "night",
    "sound",
    "river",
    "blue",
    "lights",
    "city",
    "golden",
    "hour",
    "wild",
    "heart",
    "stone",
    "road",
    "fire",
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def template(seed: int) -> Image.Image:
    """A label/series template: background, frame and logo band shared by every release."""
    rng = random.Random(seed)
    img = Image.new("RGB", (SIZE, SIZE), tuple(rng.randrange(150, 256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    d.rectangle((8, 8, SIZE - 8, SIZE - 8), outline=(20, 20, 20), width=6)
    d.rectangle((8, 8, SIZE - 8, 80), fill=(30, 30, 60))
    d.text((24, 22), f"RECORDS {seed}", fill=(250, 220, 90), font=_font(34))
    return img


def release(seed: int, title_seed: int) -> Image.Image:
    """A cover on ``template(seed)``: the template's artwork, its own title and track list."""
    img = template(seed)
    rng = random.Random(seed)
    d = ImageDraw.Draw(img)
    for _ in range(6):  # the template's artwork: shapes with hard corners, in the lower band
        x, y = rng.randrange(20, SIZE - 90), rng.randrange(330, SIZE - 50)
        w, h = rng.randrange(25, 80), rng.randrange(15, 30)
        colour = tuple(rng.randrange(0, 256) for _ in range(3))
        if rng.random() < 0.5:
            d.rectangle((x, y, x + w, y + h), fill=colour, outline=(0, 0, 0), width=2)
        else:
            d.polygon([(x, y + h), (x + w // 2, y), (x + w, y + h)], fill=colour)
    rng = random.Random(title_seed * 7919 + seed)
    for line in range(5):  # this release's title and tracks: most of the sleeve
        words = " ".join(rng.choice(WORDS) for _ in range(2)).upper()
        d.text((24, 92 + line * 46), words, fill=(0, 0, 0), font=_font(42))
    return img


def recaptured(img: Image.Image, *, sticker: bool = True) -> Image.Image:
    """A second copy of the same sleeve: rotated a few degrees, cropped, smaller, colour-shifted,
    a price sticker on it (then JPEG-recompressed by :func:`jpeg_bytes`)."""
    out = img.rotate(4, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(90, 90, 90))
    out = out.crop((14, 10, SIZE - 12, SIZE - 16)).resize((330, 325), Image.Resampling.BILINEAR)
    r, g, b = out.split()
    out = Image.merge("RGB", (r.point(lambda v: v * 0.85 + 20), g, b.point(lambda v: v * 0.9)))
    out = ImageEnhance.Contrast(out).enhance(0.85)
    if sticker:
        d = ImageDraw.Draw(out)
        d.rectangle((250, 250, 318, 300), fill=(255, 255, 40))
        d.text((258, 262), "$9.99", fill=(200, 0, 0), font=_font(18))
    return out


def jpeg_bytes(img: Image.Image, quality: int = 55) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def plain(colour: tuple[int, int, int], title: str, *, size: int = SIZE) -> Image.Image:
    """A near-featureless sleeve: one flat colour, a soft vignette, a small title in a corner
    (a grey *untitled unmastered*, a black *2001*): too few corners for keypoint matching."""
    img = Image.new("RGB", (size, size), colour)
    shade = Image.radial_gradient("L").resize((size, size))  # darker towards the corners
    img = Image.composite(
        img, Image.new("RGB", (size, size), (0, 0, 0)), shade.point(lambda v: 255 - v // 4)
    )
    ImageDraw.Draw(img).text((16, 14), title, fill=(235, 235, 225), font=_font(14))
    return img


def rephotographed(img: Image.Image) -> Image.Image:
    """A phone photo of a plain sleeve: slightly cropped and smaller, warmer, a bit darker,
    with a light glare band (then JPEG-recompressed by :func:`jpeg_bytes`)."""
    w, h = img.size
    out = img.crop((6, 5, w - 7, h - 6)).resize((300, 298), Image.Resampling.BILINEAR)
    r, g, b = out.split()
    out = Image.merge("RGB", (r.point(lambda v: v * 0.95 + 8), g, b.point(lambda v: v * 0.9)))
    glare = Image.linear_gradient("L").rotate(35).resize(out.size).point(lambda v: v // 16)
    return Image.composite(Image.new("RGB", out.size, (255, 255, 255)), out, glare)


def stickered(img: Image.Image) -> Image.Image:
    """The same sleeve with a large hype sticker covering a corner (no other change)."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    d.rectangle((250, 20, 385, 150), fill=(250, 230, 40), outline=(0, 0, 0), width=2)
    for line, text in enumerate(("INCLUDES", "THE HIT", "SINGLE")):
        d.text((262, 32 + line * 36), text, fill=(0, 0, 0), font=_font(24))
    return out
