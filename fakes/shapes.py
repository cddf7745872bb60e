"""Drawing primitives for the fake covers: numpy backgrounds and ImageDraw shapes.

All coordinates are fractions of the cover ``size`` so a cover looks the same at every size.
Each shape takes ``(draw, size, palette, rng)`` and draws with the palette's colours.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

Color = tuple[int, int, int]


# -- backgrounds (numpy, HxWx3 uint8) ----------------------------------------------------------
def background(kind: str, size: int, pal: list[Color], rng: random.Random) -> np.ndarray:
    c1, c2 = np.array(pal[0], np.float32), np.array(pal[1], np.float32)
    if kind == "flat":
        return np.broadcast_to(c1.astype(np.uint8), (size, size, 3)).copy()
    if kind in ("vgradient", "hgradient", "horizon"):
        t = np.linspace(0.0, 1.0, size, dtype=np.float32)
        col = c1[None, :] * (1 - t[:, None]) + c2[None, :] * t[:, None]  # size x 3
        if kind == "horizon":  # sky gradient above, flat ground below
            cut = int(size * rng.uniform(0.5, 0.75))
            col[cut:] = np.array(pal[2], np.float32)
        grid = np.broadcast_to(col[:, None, :], (size, size, 3))
        return (grid if kind != "hgradient" else grid.transpose(1, 0, 2)).astype(np.uint8)
    if kind in ("radial", "dark"):
        if kind == "dark":
            c1 = c1 * 0.25
            c2 = c2 * 0.1
        y, x = np.ogrid[:size, :size]
        cx, cy = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2, dtype=np.float32) / (0.75 * size)
        d = np.clip(d, 0.0, 1.0)[..., None]
        return (c1 * (1 - d) + c2 * d).astype(np.uint8)
    if kind == "photo":  # smooth blotches, like an out-of-focus photo: tiny image upscaled
        small = np.array([pal[rng.randrange(len(pal))] for _ in range(16)], np.uint8)
        img = Image.fromarray(small.reshape(4, 4, 3)).resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(img).copy()
    # stripes: three (or more) horizontal bands
    bands = rng.randint(3, 5)
    out = np.empty((size, size, 3), np.uint8)
    edges = [round(i * size / bands) for i in range(bands + 1)]
    for i in range(bands):
        out[edges[i] : edges[i + 1]] = pal[i % len(pal)]
    return out


# -- shapes (ImageDraw, coordinates as fractions of size) ------------------------------------
Shape = Callable[[ImageDraw.ImageDraw, int, list[Color], random.Random], None]


def _circles(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    for _ in range(r.randint(1, 4)):
        cx, cy, rad = r.random() * s, r.random() * s, r.uniform(0.05, 0.3) * s
        d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=r.choice(pal))


def _rings(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    cx, cy = r.uniform(0.3, 0.7) * s, r.uniform(0.3, 0.7) * s
    w = max(1, int(s * r.uniform(0.01, 0.03)))
    for k in range(r.randint(3, 7)):
        rad = (k + 1) * s * 0.06
        d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), outline=r.choice(pal), width=w)


def _sparkles(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    for _ in range(r.randint(4, 12)):
        cx, cy, a = r.random() * s, r.random() * s, r.uniform(0.01, 0.05) * s
        b = a / 4
        d.polygon(
            [
                (cx, cy - a),
                (cx + b, cy - b),
                (cx + a, cy),
                (cx + b, cy + b),
                (cx, cy + a),
                (cx - b, cy + b),
                (cx - a, cy),
                (cx - b, cy - b),
            ],
            fill=r.choice(pal),
        )


def _lines(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    w = max(1, int(s * r.uniform(0.003, 0.02)))
    for _ in range(r.randint(3, 10)):
        d.line(
            (r.random() * s, r.random() * s, r.random() * s, r.random() * s),
            fill=r.choice(pal),
            width=w,
        )


def _spikes(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    """Thorny, radiating strokes: the shape of an unreadable black-metal logo."""
    cx, cy = r.uniform(0.3, 0.7) * s, r.uniform(0.2, 0.5) * s
    grey = r.randint(170, 255)
    w = max(1, s // 150)
    for _ in range(r.randint(12, 30)):
        ang, length = r.uniform(0, 2 * math.pi), r.uniform(0.05, 0.4) * s
        d.line(
            (cx, cy, cx + math.cos(ang) * length, cy + math.sin(ang) * length * 0.5),
            fill=(grey, grey, grey),
            width=w,
        )


def _jagged(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    base = r.uniform(0.5, 0.9) * s
    pts = [(0.0, float(s))]
    x = 0.0
    while x < s:
        pts.append((x, base - r.uniform(0, 0.35) * s))
        x += r.uniform(0.02, 0.08) * s
    pts += [(float(s), base), (float(s), float(s))]
    d.polygon(pts, fill=r.choice(pal))


def _frame(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    m = r.uniform(0.03, 0.1) * s
    d.rectangle((m, m, s - m, s - m), outline=r.choice(pal), width=max(1, int(s * 0.015)))


def _ellipse(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    w, h = r.uniform(0.2, 0.35) * s, r.uniform(0.3, 0.42) * s
    cx, cy = s / 2 + r.uniform(-0.1, 0.1) * s, s / 2 + r.uniform(-0.05, 0.1) * s
    d.ellipse((cx - w, cy - h, cx + w, cy + h), fill=r.choice(pal))


def text_blocks(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    """Rows of small bars that read as typeset words from a distance."""
    y = r.uniform(0.05, 0.8) * s
    h = r.uniform(0.02, 0.06) * s
    col = r.choice(pal)
    for _ in range(r.randint(1, 3)):
        x = r.uniform(0.05, 0.3) * s
        while x < s * 0.9:
            w = r.uniform(0.03, 0.15) * s
            d.rectangle((x, y, min(x + w, s * 0.95), y + h), fill=col)
            x += w + h * 0.6
        y += h * 1.6


def _sun(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    cx, cy, rad = r.uniform(0.3, 0.7) * s, r.uniform(0.3, 0.6) * s, r.uniform(0.1, 0.22) * s
    d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=r.choice(pal))


def _hills(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    base, amp, freq, ph = r.uniform(0.55, 0.85), r.uniform(0.03, 0.12), r.uniform(1, 4), r.random()
    pts = [
        (x * s / 20, (base + amp * math.sin(2 * math.pi * (freq * x / 20 + ph))) * s)
        for x in range(21)
    ]
    d.polygon([(0, s), *pts, (s, s)], fill=r.choice(pal))


def _stripes(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    n, slant = r.randint(3, 8), r.uniform(-0.5, 0.5) * s
    w = s / (2 * n)
    for i in range(n):
        x = i * 2 * w
        d.polygon([(x, 0), (x + w, 0), (x + w + slant, s), (x + slant, s)], fill=r.choice(pal))


def _grid(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    """A receding neon floor grid (the synthwave / rave flyer look)."""
    col, hz = r.choice(pal), r.uniform(0.45, 0.65) * s
    w = max(1, s // 200)
    for k in range(1, 10):
        y = hz + (s - hz) * (k / 9) ** 2
        d.line((0, y, s, y), fill=col, width=w)
    for k in range(-8, 9):
        d.line((s / 2, hz, s / 2 + k * s * 0.15, s), fill=col, width=w)


def _triangles(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    for _ in range(r.randint(1, 3)):
        cx, cy, a = r.random() * s, r.random() * s, r.uniform(0.1, 0.3) * s
        d.polygon(
            [(cx, cy - a), (cx + a, cy + a * 0.7), (cx - a, cy + a * 0.7)],
            outline=r.choice(pal),
            width=max(1, s // 100),
        )


def _blocks(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    for _ in range(r.randint(2, 4)):
        x, y = r.uniform(0, 0.7) * s, r.uniform(0, 0.7) * s
        d.rectangle(
            (x, y, x + r.uniform(0.15, 0.5) * s, y + r.uniform(0.1, 0.5) * s), fill=r.choice(pal)
        )


def _blobs(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    for _ in range(r.randint(2, 5)):
        cx, cy = r.random() * s, r.random() * s
        rx, ry = r.uniform(0.1, 0.3) * s, r.uniform(0.1, 0.3) * s
        d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=r.choice(pal))


def _advisory(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    """The black-and-white 'parental advisory' box in a bottom corner."""
    w, h = 0.22 * s, 0.13 * s
    x = 0.05 * s if r.random() < 0.3 else s * 0.95 - w
    y = s * 0.95 - h
    d.rectangle(
        (x, y, x + w, y + h), fill=(0, 0, 0), outline=(255, 255, 255), width=max(1, s // 150)
    )
    d.rectangle((x + w * 0.1, y + h * 0.35, x + w * 0.9, y + h * 0.65), fill=(255, 255, 255))


def _face(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    """A big-eyed cartoon face: hair, skin oval, two large eyes."""
    cx, cy, rad = r.uniform(0.35, 0.65) * s, r.uniform(0.4, 0.6) * s, r.uniform(0.18, 0.3) * s
    d.ellipse((cx - rad * 1.15, cy - rad * 1.2, cx + rad * 1.15, cy + rad * 0.6), fill=pal[3])
    d.ellipse((cx - rad, cy - rad * 0.8, cx + rad, cy + rad), fill=(250, 224, 205))
    ew, eh = rad * 0.25, rad * 0.35
    for ex in (cx - rad * 0.4, cx + rad * 0.4):
        d.ellipse((ex - ew, cy - eh, ex + ew, cy + eh), fill=r.choice(pal))
        d.ellipse((ex - ew / 3, cy - eh / 2, ex + ew / 3, cy), fill=(255, 255, 255))


def _leaves(d: ImageDraw.ImageDraw, s: int, pal: list[Color], r: random.Random) -> None:
    col = (20, r.randint(110, 170), 40)
    for _ in range(r.randint(3, 7)):
        cx, cy, a = r.random() * s, r.random() * s, r.uniform(0.05, 0.15) * s
        ang = r.uniform(0, math.pi)
        dx, dy = math.cos(ang) * a, math.sin(ang) * a
        nx, ny = -dy * 0.3, dx * 0.3
        d.polygon(
            [(cx - dx, cy - dy), (cx + nx, cy + ny), (cx + dx, cy + dy), (cx - nx, cy - ny)],
            fill=col,
        )


SHAPES: dict[str, Shape] = {
    "face": _face,
    "sparkles": _sparkles,
    "circles": _circles,
    "lines": _lines,
    "spikes": _spikes,
    "jagged": _jagged,
    "frame": _frame,
    "ellipse": _ellipse,
    "text": text_blocks,
    "sun": _sun,
    "hills": _hills,
    "rings": _rings,
    "stripes": _stripes,
    "grid": _grid,
    "triangles": _triangles,
    "blocks": _blocks,
    "blobs": _blobs,
    "advisory": _advisory,
    "leaves": _leaves,
}
