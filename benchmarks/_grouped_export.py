"""Fallback for benchmarks/train_eval.py: a leak-free export of a class-per-folder dataset.

Used only when sleeve.dataset (build-dataset) has no Python API yet. Covers that are
byte-identical or within pHash distance <= 10 of 64 bits (other pressings of the same album)
go to the same split, then groups are assigned 70/15/15 per genre with a seeded shuffle.
Writes the export contract: manifest.csv + card.json + images/<split>/<genre>/<sha>.<ext>.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

PHASH_MAX_DISTANCE = 10
COLUMNS = [
    "path",
    "sha256",
    "phash",
    "genre",
    "split",
    "artist",
    "source",
    "group_id",
    "width",
    "height",
]


def _groups(phashes: np.ndarray, shas: list[str]) -> list[int]:
    n = len(shas)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_sha: dict[str, int] = {}
    for i, sha in enumerate(shas):
        if sha in by_sha:
            parent[find(i)] = find(by_sha[sha])
        else:
            by_sha[sha] = i
    bits = np.unpackbits(phashes.view(np.uint8).reshape(n, 8), axis=1).astype(np.uint8)
    for i in range(n):
        dist = (bits[i + 1 :] != bits[i]).sum(axis=1)
        for j in np.nonzero(dist <= PHASH_MAX_DISTANCE)[0]:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[a] = b
    return [find(i) for i in range(n)]


def build_grouped_export(src: Path, out: Path, seed: int = 0) -> Path:
    if (out / "manifest.csv").is_file():
        return out
    items = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        genre = folder.name.lower()
        for f in sorted(folder.iterdir()):
            data = f.read_bytes()
            try:
                img = Image.open(io.BytesIO(data))
                img.load()
            except Exception:
                continue
            ph = imagehash.phash(img.convert("RGB"))
            items.append(
                (
                    f,
                    genre,
                    hashlib.sha256(data).hexdigest(),
                    str(ph),
                    img.size,
                    img.format or "JPEG",
                )
            )
    ph_int = np.array([int(it[3], 16) for it in items], dtype=np.uint64)
    groups = _groups(ph_int, [it[2] for it in items])
    # a group is assigned by its most common genre, so a group never straddles splits
    by_group: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    rng = random.Random(seed)
    per_genre: dict[str, list[int]] = defaultdict(list)
    for g, members in sorted(by_group.items()):
        genre = Counter(items[i][1] for i in members).most_common(1)[0][0]
        per_genre[genre].append(g)
    split_of: dict[int, str] = {}
    for genre in sorted(per_genre):
        gs = per_genre[genre]
        rng.shuffle(gs)
        total = sum(len(by_group[g]) for g in gs)
        acc = 0
        for g in gs:
            frac = acc / total
            split_of[g] = "train" if frac < 0.70 else "val" if frac < 0.85 else "test"
            acc += len(by_group[g])
    rows, seen = [], set()
    for i, (f, genre, sha, ph, (w, h), fmt) in enumerate(items):
        if (sha, genre) in seen:
            continue
        seen.add((sha, genre))
        split = split_of[groups[i]]
        ext = {"JPEG": "jpg", "PNG": "png"}.get(fmt, "jpg")
        rel = f"images/{split}/{genre}/{sha}.{ext}"
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            try:
                os.link(f, dest)
            except OSError:
                shutil.copyfile(f, dest)
        rows.append([rel, sha, ph, genre, split, "", "folder", f"g{groups[i]}", w, h])
    rows.sort(key=lambda r: (r[4], r[3], r[1]))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    raw = buf.getvalue().encode("utf-8")
    (out / "manifest.csv").write_bytes(raw)
    genres = sorted({r[3] for r in rows})
    counts = {
        sp: {g: sum(1 for r in rows if r[4] == sp and r[3] == g) for g in genres}
        for sp in ("train", "val", "test")
    }
    inv = {g: 1.0 / counts["train"][g] for g in genres}
    mean = sum(inv.values()) / len(inv)
    card = {
        "dataset_id": hashlib.sha256(raw).hexdigest()[:16],
        "genres": genres,
        "counts": counts,
        "class_weights": {g: inv[g] / mean for g in genres},
        "oversample": {g: max(counts["train"].values()) / counts["train"][g] for g in genres},
        "settings": {"source": str(src), "seed": seed, "phash_max_distance": PHASH_MAX_DISTANCE},
        "duplicates": {"groups": len(by_group), "images": len(items)},
        "labels": {},
        "balance": {},
        "created_with": "benchmarks/_grouped_export.py (fallback)",
    }
    (out / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return out
