"""A tiny dataset export in the build-dataset contract's format, drawn with Pillow.

For tests and benchmarks/predict.py: each genre has its own colour and shape, with jitter and
noise, so a classifier learns something in one epoch but the task is not trivial.
Deterministic in ``seed``. Not a substitute for real covers.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

from PIL import Image, ImageDraw

from sleeve.dataset.export import (
    SPLITS,
    DatasetCard,
    ManifestRow,
    split_counts,
    write_export,
)

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
    rows: list[ManifestRow] = []
    blobs: dict[str, bytes] = {}
    for split, n in zip(SPLITS, per_split, strict=True):
        for genre in genres:
            for _ in range(n):
                buf = io.BytesIO()
                draw(genre, rng, size).save(buf, format="JPEG", quality=90)
                data = buf.getvalue()
                sha = hashlib.sha256(data).hexdigest()
                blobs[sha] = data
                rows.append(
                    ManifestRow(
                        path=f"images/{split}/{genre}/{sha}.jpg",
                        sha256=sha,
                        phash="0" * 16,
                        genre=genre,
                        split=split,
                        artist=f"artist-{rng.randrange(99)}",
                        source="synthetic",
                        group_id=sha[:12],
                        width=size,
                        height=size,
                    )
                )
    names = sorted(genres)
    card = DatasetCard(
        dataset_id="",  # write_export sets it from the manifest
        genres=names,
        counts=split_counts(rows, names),
        class_weights=dict.fromkeys(names, 1.0),
        oversample=dict.fromkeys(names, 1.0),
        settings={"synthetic": True, "seed": seed, "size": size},
        created_with="tests.synthetic",
    )
    write_export(out, rows, blobs, card, _card_md, progress=False)
    return out


def _card_md(card: DatasetCard) -> str:
    return f"# Synthetic dataset {card.dataset_id}\n"
