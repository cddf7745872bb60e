"""Leak-free train/val/test split: stratified by genre, grouped by leak group.

A leak group is a connected component of "same duplicate group", "same artist" (Artist.name_key)
and "same release": nothing in it may sit in two splits, or the test set would contain a cover
the model saw in training under another name. Groups are assigned greedily, largest first (ties
in a seeded order), each to the split whose per-genre deficit it reduces most; the same seed and
the same items give the same split.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sleeve.dataset.dedup.groups import components

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitItem:
    key: int  # image id
    sha256: str
    genre: str
    links: tuple[str, ...]  # what ties it to others: "artist:<key>", "release:<id>", ...


def leak_groups(items: Sequence[SplitItem]) -> dict[int, str]:
    """Leak-group id of each item (the smallest sha256 in the group, 16 hex digits)."""
    node: dict[str, int] = {}
    edges: list[tuple[int, int]] = []
    for i, item in enumerate(items):
        for link in item.links:
            j = node.setdefault(link, len(items) + len(node))
            edges.append((i, j))
    labels = components(len(items) + len(node), np.array(edges, dtype=np.int64).reshape(-1, 2))
    smallest: dict[int, str] = {}
    for i, item in enumerate(items):
        lab = int(labels[i])
        if lab not in smallest or item.sha256 < smallest[lab]:
            smallest[lab] = item.sha256
    return {item.key: smallest[int(labels[i])][:16] for i, item in enumerate(items)}


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'70/15/15' (percent or fractions) -> (0.7, 0.15, 0.15); ValueError when malformed."""
    parts = [float(p) for p in text.replace(",", "/").split("/")]
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ValueError(f"expected three non-negative numbers like 70/15/15, got {text!r}")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def assign_splits(
    items: Sequence[SplitItem],
    group_of: dict[int, str],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> dict[int, str]:
    """Split name for each item key; every leak group lands in exactly one split."""
    members: dict[str, list[SplitItem]] = defaultdict(list)
    for item in items:
        members[group_of[item.key]].append(item)
    totals: dict[str, int] = defaultdict(int)
    for item in items:
        totals[item.genre] += 1
    target = {
        s: {g: f * n for g, n in totals.items()} for s, f in zip(SPLITS, fractions, strict=True)
    }
    current: dict[str, defaultdict[str, float]] = {s: defaultdict(float) for s in SPLITS}
    rng = random.Random(seed)
    order = sorted(members)
    rng.shuffle(order)
    order.sort(key=lambda gid: -len(members[gid]))  # stable: seeded order among equal sizes
    out: dict[int, str] = {}
    for gid in order:
        genre_counts: dict[str, int] = defaultdict(int)
        for item in members[gid]:
            genre_counts[item.genre] += 1

        gains = {
            s: sum(
                n * (target[s][g] - current[s][g]) / max(totals[g], 1)
                for g, n in genre_counts.items()
            )
            for s in SPLITS
        }
        best = max(SPLITS, key=lambda s: (gains[s], -SPLITS.index(s)))
        for g, n in genre_counts.items():
            current[best][g] += n
        for item in members[gid]:
            out[item.key] = best
    return out
