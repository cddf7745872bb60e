"""Procedurally drawn album covers for the fake Cover Art Archive (and any other fake source).

Each genre has a *style*: a palette family, a background kind, a vocabulary of shapes and a
texture. Every cover draws from its genre's style with per-seed variation, grain noise and a
deliberate amount of cross-genre borrowing (palette or shapes taken from another genre), so a
classifier can learn the genres but should not reach perfect accuracy. Unknown genre names
("electronic", "rock") get a style hashed from the name, so anything can be drawn.

Everything is deterministic in ``(genre, seed)`` and scale-invariant: all coordinates are
fractions of ``size``, so the 250/500/1200 px "thumbnails" show the same picture as the
600 px original. Near-duplicate *variants* (recompressed, resized, cropped) of a cover are
produced by :func:`render_cover` for the catalogue's duplicate releases.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from sleeve.fakes import shapes
from sleeve.fakes.shapes import Color

# Variants of one cover that a catalogue may show on a second release.
VARIANTS = ("original", "recompressed", "resized", "cropped", "back")

# Probability that a cover borrows its palette / its shapes from another genre's style.
BORROW_PALETTE = 0.22
BORROW_SHAPES = 0.22


@dataclass(frozen=True)
class Style:
    """How one genre's covers look: palette family, background, shapes, texture."""

    hues: tuple[float, ...]  # anchor hues (0..1); colours jitter around them
    hue_jitter: float
    sat: tuple[float, float]
    val: tuple[float, float]
    backgrounds: tuple[str, ...]
    shapes: tuple[tuple[str, float], ...]  # (shape kind, weight)
    n_shapes: tuple[int, int]
    noise: int  # amplitude of the grey grain, 0..255
    text: float  # probability of text-like title blocks


STYLES: dict[str, Style] = {
    "anime": Style(
        (0.55, 0.8, 0.95),
        0.08,
        (0.2, 0.6),
        (0.8, 1.0),
        ("vgradient", "flat"),
        (("face", 3), ("sparkles", 3), ("circles", 2), ("lines", 1)),
        (2, 5),
        6,
        0.5,
    ),
    "black_metal": Style(
        (0.0, 0.6),
        0.5,
        (0.0, 0.12),
        (0.02, 0.4),
        ("radial", "dark", "photo"),
        (("spikes", 4), ("jagged", 3), ("lines", 1)),
        (2, 4),
        30,
        0.2,
    ),
    "classical": Style(
        (0.08, 0.0, 0.12),
        0.04,
        (0.15, 0.45),
        (0.35, 0.92),
        ("flat", "vgradient"),
        (("frame", 3), ("ellipse", 2), ("text", 2)),
        (2, 4),
        5,
        0.9,
    ),
    "country": Style(
        (0.07, 0.55, 0.11),
        0.05,
        (0.3, 0.7),
        (0.4, 0.95),
        ("horizon", "vgradient"),
        (("sun", 2), ("hills", 3), ("text", 1), ("frame", 1)),
        (2, 4),
        12,
        0.6,
    ),
    "disco": Style(
        (0.85, 0.12, 0.75),
        0.08,
        (0.65, 1.0),
        (0.5, 1.0),
        ("radial", "flat"),
        (("rings", 3), ("sparkles", 3), ("circles", 2), ("stripes", 1)),
        (3, 6),
        8,
        0.5,
    ),
    "edm": Style(
        (0.5, 0.83, 0.7),
        0.06,
        (0.8, 1.0),
        (0.1, 1.0),
        ("dark", "vgradient"),
        (("grid", 3), ("lines", 2), ("triangles", 2), ("circles", 1)),
        (2, 5),
        10,
        0.4,
    ),
    "jazz": Style(
        (0.58, 0.08, 0.0),
        0.05,
        (0.5, 0.9),
        (0.3, 0.9),
        ("flat", "photo"),
        (("blocks", 4), ("text", 3), ("circles", 1), ("stripes", 1)),
        (3, 6),
        10,
        0.8,
    ),
    "pop": Style(
        (0.95, 0.15, 0.5),
        0.1,
        (0.3, 0.7),
        (0.75, 1.0),
        ("vgradient", "hgradient"),
        (("circles", 3), ("blobs", 3), ("text", 1), ("stripes", 1)),
        (2, 5),
        6,
        0.6,
    ),
    "rap": Style(
        (0.0, 0.1, 0.6),
        0.3,
        (0.0, 0.35),
        (0.05, 0.65),
        ("photo", "dark"),
        (("advisory", 3), ("blobs", 2), ("text", 3), ("blocks", 1)),
        (2, 4),
        16,
        0.9,
    ),
    "reggae": Style(
        (0.0, 0.14, 0.33),
        0.02,
        (0.75, 1.0),
        (0.55, 0.95),
        ("stripes", "flat"),
        (("sun", 2), ("circles", 2), ("stripes", 2), ("leaves", 3)),
        (2, 5),
        12,
        0.5,
    ),
}

_BACKGROUNDS = ("flat", "vgradient", "hgradient", "radial", "dark", "photo", "horizon", "stripes")
_SHAPE_KINDS = (
    "face",
    "sparkles",
    "circles",
    "lines",
    "spikes",
    "jagged",
    "frame",
    "ellipse",
    "text",
    "sun",
    "hills",
    "rings",
    "stripes",
    "grid",
    "triangles",
    "blocks",
    "blobs",
    "advisory",
    "leaves",
)


def style_for(genre: str) -> Style:
    """The style of ``genre``; unknown names get a style hashed from the name."""
    if genre in STYLES:
        return STYLES[genre]
    h = hashlib.sha256(genre.encode("utf-8")).digest()
    r = random.Random(h)
    shapes = tuple((k, float(r.randint(1, 4))) for k in r.sample(_SHAPE_KINDS, 3))
    lo = r.uniform(0.0, 0.6)
    return Style(
        hues=tuple(r.random() for _ in range(r.randint(1, 3))),
        hue_jitter=r.uniform(0.02, 0.2),
        sat=(lo, min(1.0, lo + r.uniform(0.2, 0.5))),
        val=(r.uniform(0.05, 0.5), r.uniform(0.6, 1.0)),
        backgrounds=tuple(r.sample(_BACKGROUNDS, 2)),
        shapes=shapes,
        n_shapes=(2, 5),
        noise=r.randint(4, 24),
        text=r.random(),
    )


def _colour(style: Style, rng: random.Random) -> Color:
    h = (rng.choice(style.hues) + rng.uniform(-style.hue_jitter, style.hue_jitter)) % 1.0
    s = rng.uniform(*style.sat)
    v = rng.uniform(*style.val)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def _palette(style: Style, rng: random.Random, n: int = 6) -> list[Color]:
    return [_colour(style, rng) for _ in range(n)]


def _weighted(shapes: tuple[tuple[str, float], ...], rng: random.Random) -> str:
    names = [k for k, _ in shapes]
    return rng.choices(names, weights=[w for _, w in shapes])[0]


def draw_cover(genre: str, seed: int, size: int = 300) -> Image.Image:
    """Draw the cover for ``(genre, seed)`` as an RGB image of ``size`` x ``size`` pixels."""
    rng = random.Random(f"sleeve-cover\x00{genre}\x00{seed}")
    style = style_for(genre)
    others = [g for g in STYLES if g != genre]
    pal_style = style if rng.random() >= BORROW_PALETTE else STYLES[rng.choice(others)]
    shape_style = style if rng.random() >= BORROW_SHAPES else STYLES[rng.choice(others)]
    pal = _palette(pal_style, rng)
    arr = shapes.background(rng.choice(pal_style.backgrounds), size, pal, rng)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(*shape_style.n_shapes)):
        shapes.SHAPES[_weighted(shape_style.shapes, rng)](draw, size, pal, rng)
    if rng.random() < style.text:
        shapes.text_blocks(draw, size, pal, rng)
    # Grain: one grey noise plane added to all channels (cheap, and enough texture).
    amp = style.noise + rng.randint(0, 8)
    if amp:
        noise = np.random.default_rng(rng.getrandbits(32)).integers(
            -amp, amp + 1, (size, size, 1), dtype=np.int16
        )
        out = np.asarray(img, dtype=np.int16) + noise
        img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    return img


def _encode(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def cover_jpeg(genre: str, seed: int, size: int = 300, quality: int = 90) -> bytes:
    """The cover for ``(genre, seed)`` as JPEG bytes (deterministic: same args, same bytes)."""
    return _encode(draw_cover(genre, seed, size), quality)


@lru_cache(maxsize=1024)
def render_cover(genre: str, seed: int, variant: str = "original", size: int = 600) -> bytes:
    """JPEG bytes of a cover *variant*, as a catalogue release shows it (cached).

    ``original``: the plain cover. ``recompressed``: same picture, JPEG quality 55 (another
    upload of the same scan). ``resized``: downscaled to 60 % and back up (a low-res upload).
    ``cropped``: 4 % shaved off each edge and scaled back (a slightly different scan).
    ``back``: the back cover, a different drawing in the same style.
    """
    if variant == "original":
        return cover_jpeg(genre, seed, size)
    if variant == "back":
        return cover_jpeg(genre, seed + 7_919_000, size)
    img = draw_cover(genre, seed, size)
    if variant == "recompressed":
        return _encode(img, 55)
    if variant == "resized":
        small = img.resize((max(8, size * 3 // 5),) * 2, Image.Resampling.BILINEAR)
        return _encode(small.resize((size, size), Image.Resampling.BILINEAR), 85)
    if variant == "cropped":
        m = max(1, size * 4 // 100)
        return _encode(img.crop((m, m, size - m, size - m)).resize((size, size)), 88)
    raise ValueError(f"unknown cover variant {variant!r}; expected one of {VARIANTS}")
