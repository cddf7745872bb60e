"""All pairs of 64-bit hashes within a Hamming distance: the one neighbour search of the builder.

Multi-index hashing (Norouzi et al., "Fast search in Hamming space with multi-index hashing"),
vectorised with numpy as a self-join. The 64 bits are cut into ``m`` chunks; if two hashes differ
in at most ``t`` bits, by the pigeonhole principle some chunk differs in at most ``t // m`` bits.
So for every chunk and every flip mask of at most ``t // m`` bits, hashes whose chunk equals
another's chunk XOR the mask are candidates, and candidates are checked on all 64 bits. The
result is exact: the same pairs a brute-force scan finds.

Why not FAISS (benchmarks/dedup.py times both on random hashes with planted near pairs at
10^4-10^6, ``search_scaling`` in benchmarks/results/dedup.json, docs/results.md):
``IndexBinaryFlat.range_search`` is a C++ brute force and costs n², and
``IndexBinaryMultiHash`` was slower still. This join is exact, with no index to keep, and
faster at every size. At 10^6 the 16-bit chunk buckets hold many hashes each, so the
candidate checks grow faster than n; it still stays well under the brute force.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from math import comb

import numpy as np

BITS = 64
MAX_THRESHOLD = 32
_MAX_CHUNK_BITS = 22  # dense bucket tables up to 4M entries (32 MiB of offsets)
# Measured cost ratio between one pass over all n hashes for a mask and one candidate check:
# it picks m = 4 for t = 10 at every n from 10^4 to 10^6, which is what the timings favoured.
_PASS_COST = 3.0


def hex_to_uint64(values: list[str]) -> np.ndarray:
    """Hex strings (as stored in ImageHash.value) as a uint64 array."""
    return np.array([int(v, 16) for v in values], dtype=np.uint64)


def _chunk_bounds(m: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, BITS, m + 1).round().astype(int)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(m)]


@lru_cache(maxsize=64)
def _flip_masks(bits: int, radius: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        masks += [sum(1 << i for i in combo) for combo in itertools.combinations(range(bits), k)]
    return np.array(masks, dtype=np.int64)


def choose_chunks(n: int, threshold: int) -> int:
    """Number of chunks that minimises the estimated work for ``n`` hashes at ``threshold``."""
    best, best_cost = 4, float("inf")
    for m in range(3, 17):
        bounds = _chunk_bounds(m)
        widest = max(hi - lo for lo, hi in bounds)
        if widest > _MAX_CHUNK_BITS:
            continue
        radius = threshold // m
        cost = 0.0
        for lo, hi in bounds:
            b = hi - lo
            masks = sum(comb(b, k) for k in range(radius + 1))
            cost += masks * (_PASS_COST * n + n * n / 2**b)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def near_pairs(hashes: np.ndarray, threshold: int) -> np.ndarray:
    """Every pair ``(i, j)``, ``i < j``, with Hamming(hashes[i], hashes[j]) <= ``threshold``.

    ``hashes`` is a uint64 array. Returns an int64 array of shape (pairs, 3): i, j, distance,
    sorted by (i, j). Exact; identical hashes (distance 0) are included.
    """
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise ValueError(f"threshold must be within 0..{MAX_THRESHOLD}, got {threshold}")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(h)
    if n < 2:
        return np.zeros((0, 3), dtype=np.int64)
    m = choose_chunks(n, threshold)
    radius = threshold // m
    found: list[np.ndarray] = []
    for lo, hi in _chunk_bounds(m):
        bits = hi - lo
        keys = ((h >> np.uint64(lo)) & np.uint64((1 << bits) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable").astype(np.int64)
        counts = np.bincount(keys, minlength=1 << bits)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        for mask in _flip_masks(bits, radius):
            found.append(_join(h, keys, order, counts, starts, int(mask), threshold))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)
    # A pair close in several chunks is found once per chunk: keep one.
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    i, j = codes // n, codes % n
    dist = np.bitwise_count(h[i] ^ h[j]).astype(np.int64)
    return np.stack([i, j, dist], axis=1)


def _join(
    h: np.ndarray,
    keys: np.ndarray,
    order: np.ndarray,
    counts: np.ndarray,
    starts: np.ndarray,
    mask: int,
    threshold: int,
) -> np.ndarray:
    """Pairs whose chunk keys differ by exactly ``mask`` and whose full hashes are close."""
    if mask == 0:
        probe = np.arange(len(keys))
    else:
        # K[a] ^ mask == K[c] is symmetric in a and c: probe only from the side whose key has
        # the mask's top bit clear, so each pair is generated once.
        top = 1 << (mask.bit_length() - 1)
        probe = np.flatnonzero((keys & top) == 0)
    target = keys[probe] ^ mask
    hits = counts[target]
    nz = np.flatnonzero(hits)
    if len(nz) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    probe, target, hits = probe[nz], target[nz], hits[nz]
    total = int(hits.sum())
    ends = np.cumsum(hits)
    offsets = np.arange(total) - np.repeat(ends - hits, hits)
    a = np.repeat(probe, hits)
    c = order[np.repeat(starts[target], hits) + offsets]
    keep = a < c if mask == 0 else a != c
    a, c = a[keep], c[keep]
    close = np.bitwise_count(h[a] ^ h[c]) <= threshold
    a, c = a[close], c[close]
    return np.stack([np.minimum(a, c), np.maximum(a, c)], axis=1)
