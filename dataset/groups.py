"""Duplicate groups: byte-identical covers (one CoverImage per sha256 already) plus perceptual
near-duplicates (Hamming distance <= threshold), merged transitively; one representative each.

Threshold (pHash, 64 bits): 10. Measured on the shared 5-genre covers (benchmarks/dedup.py,
contact sheet of random pairs): every pair at distance <= 10 that was inspected was the same
album (re-encodes, resizes, slightly different scans); unrelated covers start to match around
12-14 (plain dark covers, text-only covers). About 8 % of those covers have such a twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sleeve.dataset.neighbours import hex_to_uint64, near_pairs
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
    images: Sequence[ImageRow], hashes: dict[int, str], threshold: int = DEFAULT_THRESHOLD
) -> Grouping:
    """Group ``images`` (those with a hash) by perceptual near-duplication."""
    rows = [im for im in images if im.id in hashes]
    codes = hex_to_uint64([hashes[im.id] for im in rows])
    pairs = near_pairs(codes, threshold)
    labels = components(len(rows), pairs[:, :2])
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
