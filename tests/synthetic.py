"""A tiny dataset export in the build-dataset contract's format, drawn with Pillow.

For tests and benchmarks/predict.py: each genre has its own colour and shape, with jitter and
noise, so a classifier learns something in one epoch but the task is not trivial.
Deterministic in ``seed``. Not a substitute for real covers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from sleeve.dataset.export import MANIFEST_COLUMNS as COLUMNS

_STYLES = {  # genre -> (base colour, shape)
    "disco": ((230, 60, 180), "circle"),
    "jazz": ((40, 70, 160), "square"),
    "metal": ((30, 30, 30), "triangle"),
    "rap": ((240, 200, 40), "stripes"),
    "country": ((150, 100, 50), "square"),
    "pop": ((250, 130, 150), "circle"),
}


def draw(genre: str, rng: random.Random, size: int = 96) -> Image.Image:
    colour, shape = _STYLES.get(genre, ((rng.randrange(256),) * 3, "circle"))
    jitter = tuple(max(0, min(255, c + rng.randint(-35, 35))) for c in colour)
    bg = tuple(255 - c // 2 for c in jitter)
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    a, b = rng.randint(size // 8, size // 3), rng.randint(size * 2 // 3, size - size // 8)
    if shape == "circle":
        d.ellipse((a, a, b, b), fill=jitter)
    elif shape == "square":
        d.rectangle((a, a, b, b), fill=jitter)
    elif shape == "triangle":
        d.polygon([(size // 2, a), (a, b), (b, b)], fill=jitter)
    else:
        for y in range(0, size, max(4, size // 8)):
            d.rectangle((0, y, size, y + size // 16), fill=jitter)
    for _ in range(size):  # speckle noise: the same cover is never drawn twice
        x, y = rng.randrange(size), rng.randrange(size)
        d.point((x, y), fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def write_synthetic_export(
    out: Path,
    genres: tuple[str, ...] = ("disco", "jazz", "metal"),
    per_split: tuple[int, int, int] = (12, 4, 4),
    size: int = 96,
    seed: int = 0,
) -> Path:
    """``per_split`` = images per genre in (train, val, test). Returns ``out``."""
    rng = random.Random(seed)
    rows = []
    for split, n in zip(("train", "val", "test"), per_split, strict=True):
        for genre in genres:
            for _ in range(n):
                buf = io.BytesIO()
                draw(genre, rng, size).save(buf, format="JPEG", quality=90)
                data = buf.getvalue()
                sha = hashlib.sha256(data).hexdigest()
                rel = f"images/{split}/{genre}/{sha}.jpg"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(data)
                rows.append(
                    [
                        rel,
                        sha,
                        "0" * 16,
                        genre,
                        split,
                        f"artist-{rng.randrange(99)}",
                        "synthetic",
                        sha[:12],
                        size,
                        size,
                    ]
                )
    rows.sort(key=lambda r: (r[4], r[3], r[1]))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    raw = buf.getvalue().encode("utf-8")
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.csv").write_bytes(raw)
    names = sorted(genres)
    counts = {
        sp: {g: n for g in names} for sp, n in zip(("train", "val", "test"), per_split, strict=True)
    }
    card = {
        "dataset_id": hashlib.sha256(raw).hexdigest()[:16],
        "genres": names,
        "counts": counts,
        "class_weights": dict.fromkeys(names, 1.0),
        "oversample": dict.fromkeys(names, 1.0),
        "settings": {"synthetic": True, "seed": seed, "size": size},
        "duplicates": {},
        "labels": {},
        "balance": {},
        "created_with": "tests.synthetic",
    }
    (out / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    (out / "card.md").write_text(f"# Synthetic dataset {card['dataset_id']}\n", encoding="utf-8")
    return out
