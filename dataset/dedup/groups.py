"""Duplicate groups: byte-identical covers (one CoverImage per sha256 already) plus perceptual
near-duplicates (Hamming distance <= threshold), merged transitively; one representative each.

Threshold (pHash, 64 bits; pHash distances are even because each hash has 32 set bits): 10.
Chosen on the shared 5-genre covers (benchmarks/dedup.py, contact sheets inspected by eye; the
pair counts per distance are ``pair_distance_histogram`` in benchmarks/results/dedup.json):
the count turns up just above 10, where unrelated covers with a similar layout start to match,
and random pairs at <= 10 were the same album. A false merge costs one cover; a missed one leaks
an album across splits, so the threshold sits at the top of the clean range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sleeve.dataset.dedup.neighbours import hex_to_uint64, near_pairs
from sleeve.dataset.rows import ImageRow

DEFAULT_THRESHOLD = 10


@dataclass(frozen=True)
class DuplicateGroup:
    id: str  # the representative's sha256[:16]: stable across builds
    representative: int  # image id kept in the dataset
    members: tuple[int, ...]  # image ids, representative included, sorted

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Grouping:
    groups: list[DuplicateGroup]
    group_of: dict[int, DuplicateGroup]  # image id -> its group
    near_pairs: int  # pairs within the threshold (before transitive merging)
    max_distance_seen: int  # largest distance of a merged pair (<= threshold)

    @property
    def near_duplicate_groups(self) -> list[DuplicateGroup]:
        return [g for g in self.groups if g.size > 1]


def representative(images: Sequence[ImageRow]) -> ImageRow:
    """Largest resolution wins; ties go to the smallest sha256 (deterministic)."""
    return min(images, key=lambda im: (-(im.width * im.height), im.sha256))


def components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes given (k, 2) int edges (union-find)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(edges) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), (n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def group_duplicates(
    images: Sequence[ImageRow],
    hashes: dict[int, str],
    threshold: int = DEFAULT_THRESHOLD,
    extra_pairs: Sequence[tuple[int, int]] = (),
) -> Grouping:
    """Group ``images`` (those with a hash) by perceptual near-duplication, plus
    ``extra_pairs`` of image ids found by another stage (the visual one), merged alike."""
    rows = [im for im in images if im.id in hashes]
    codes = hex_to_uint64([hashes[im.id] for im in rows])
    pairs = near_pairs(codes, threshold)
    position = {im.id: k for k, im in enumerate(rows)}
    extra = np.array(
        [(position[a], position[b]) for a, b in extra_pairs if a in position and b in position],
        dtype=np.int64,
    ).reshape(-1, 2)
    labels = components(len(rows), np.concatenate([pairs[:, :2], extra]))
    by_label: dict[int, list[ImageRow]] = {}
    for im, label in zip(rows, labels, strict=True):
        by_label.setdefault(int(label), []).append(im)
    groups: list[DuplicateGroup] = []
    group_of: dict[int, DuplicateGroup] = {}
    for members in by_label.values():
        rep = representative(members)
        group = DuplicateGroup(rep.sha256[:16], rep.id, tuple(sorted(m.id for m in members)))
        groups.append(group)
        for m in members:
            group_of[m.id] = group
    groups.sort(key=lambda g: g.id)
    return Grouping(
        groups,
        group_of,
        near_pairs=len(pairs),
        max_distance_seen=int(pairs[:, 2].max()) if len(pairs) else 0,
    )
