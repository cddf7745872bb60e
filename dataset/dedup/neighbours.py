"""All pairs of 64-bit hashes within a Hamming distance: the one neighbour search of the builder.

Multi-index hashing (Norouzi et al., "Fast search in Hamming space with multi-index hashing")
with the generalised pigeonhole bound (Qin et al., "GPH", 2018). The 64 bits are cut into ``m``
chunks with radii ``r_1 .. r_m`` summing to ``t - m + 1``: if two hashes differ in at most ``t``
bits, some chunk ``c`` differs in at most ``r_c`` bits (were every chunk over its radius, the
distance would be at least ``t + 1``). So, chunk by chunk, the hashes are bucketed by the chunk's
value, and every bucket is joined with the buckets whose value differs from it by a flip mask of
at most ``r_c`` bits; candidates are checked on all 64 bits. A pair is reported by the first
chunk within its radius only, so each pair comes once. Exact: the same pairs a brute force finds.

The join runs bucket against bucket in compiled code (numba), over key ranges split between
threads. Why not the numpy self-join this replaced: it materialised every candidate (repeat,
gather, compare) per flip mask, one random memory access each. Bucket against bucket, both
sides are short contiguous runs of the sorted hashes (benchmarks/scale.py measures both in the
same run; docs/scale.md). Why not FAISS (benchmarks/dedup.py): ``IndexBinaryFlat.range_search``
is a brute force that costs n², and ``IndexBinaryMultiHash`` was slower still.

Scaling: the work is ``sum_c masks_c * (2^w_c lookups + n^2 / 2^w_c candidate checks)``; the
chunking minimises it (4 chunks of 16 bits at t = 10 up to ~3x10^6 hashes, 3 of ~21 bits above).
Each key range is independent of the others, so a search can be sharded by key range.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from math import comb

import numba
import numpy as np

BITS = 64
MAX_THRESHOLD = 32
_MAX_CHUNK_BITS = 22  # bucket offset tables up to 4M entries (32 MiB) per chunk
# Measured cost of one bucket lookup relative to one candidate check (benchmarks/scale.py runs
# at 10^6: 3 chunks did 3.8 G lookups + 0.8 G checks in the time 4 chunks did 3.3 G checks).
_LOOKUP_COST = 1.3
_BLOCKS_PER_THREAD = 16  # key ranges per thread: evens out buckets of uneven size


def hex_to_uint64(values: list[str]) -> np.ndarray:
    """Hex strings (as stored in ImageHash.value) as a uint64 array."""
    return np.array([int(v, 16) for v in values], dtype=np.uint64)


@lru_cache(maxsize=64)
def _flip_masks(bits: int, radius: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        masks += [sum(1 << i for i in combo) for combo in itertools.combinations(range(bits), k)]
    return np.array(masks, dtype=np.int64)


def chunk_plan(m: int, threshold: int) -> list[tuple[int, int, int]]:
    """(low bit, width, radius) of each of ``m`` chunks; radius -1: the chunk is not probed."""
    edges = np.linspace(0, BITS, m + 1).round().astype(int)
    total = threshold - m + 1  # the radii's sum (generalised pigeonhole)
    radii = [total // m + (1 if i < total % m else 0) for i in range(m)]
    return [(int(edges[i]), int(edges[i + 1] - edges[i]), radii[i]) for i in range(m)]


def _cost(n: int, plan: list[tuple[int, int, int]]) -> float:
    cost = 0.0
    for _, width, radius in plan:
        if radius >= 0:
            masks = sum(comb(width, k) for k in range(radius + 1))
            cost += masks / 2 * (_LOOKUP_COST * 2**width + n * n / 2**width)
    return cost


def choose_chunks(n: int, threshold: int) -> int:
    """Number of chunks that minimises the estimated work for ``n`` hashes at ``threshold``."""
    best, best_cost = 4, float("inf")
    for m in range(3, 17):
        plan = chunk_plan(m, threshold)
        if max(w for _, w, _ in plan) > _MAX_CHUNK_BITS:
            continue
        cost = _cost(n, plan)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def near_pairs(hashes: np.ndarray, threshold: int, *, threads: int | None = None) -> np.ndarray:
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
    plan = chunk_plan(choose_chunks(n, threshold), threshold)
    lows = np.array([lo for lo, _, _ in plan], dtype=np.int64)
    widths = np.array([w for _, w, _ in plan], dtype=np.int64)
    radii = np.array([r for _, _, r in plan], dtype=np.int64)
    threads = threads or os.cpu_count() or 1
    found: list[np.ndarray] = []
    with ThreadPoolExecutor(threads) as pool:  # the compiled join releases the GIL
        for c, (lo, width, radius) in enumerate(plan):
            if radius < 0:
                continue
            keys = ((h >> np.uint64(lo)) & np.uint64((1 << width) - 1)).astype(np.int64)
            order = np.argsort(keys, kind="stable")
            starts = np.zeros((1 << width) + 1, dtype=np.int64)
            np.cumsum(np.bincount(keys, minlength=1 << width), out=starts[1:])
            sorted_h = h[order]
            masks = _flip_masks(width, radius)
            edges = np.linspace(0, 1 << width, threads * _BLOCKS_PER_THREAD + 1).astype(np.int64)
            tables = (sorted_h, order, starts, masks, c, lows, widths, radii, threshold)
            jobs = [
                pool.submit(_join_buckets, *tables, int(k0), int(k1))
                for k0, k1 in itertools.pairwise(edges)
            ]
            found += [job.result() for job in jobs]
    pairs = np.concatenate(found)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    dist = np.bitwise_count(h[pairs[:, 0]] ^ h[pairs[:, 1]]).astype(np.int64)
    return np.column_stack([pairs, dist])


@numba.njit(inline="always")
def _popcount(x: np.uint64) -> np.int64:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(nogil=True, cache=True)
def _join_buckets(
    sorted_h: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    masks: np.ndarray,
    chunk: int,
    lows: np.ndarray,
    widths: np.ndarray,
    radii: np.ndarray,
    threshold: int,
    k0: int,
    k1: int,
) -> np.ndarray:  # pragma: no cover  (compiled; exercised through near_pairs)
    """Pairs (i, j), i < j, between bucket k in [k0, k1) and bucket k ^ mask (k ^ mask >= k),
    within ``threshold``, that no earlier chunk is within its radius for."""
    cap, found = 256, 0
    out = np.empty((cap, 2), np.int64)
    for k in range(k0, k1):
        s1, e1 = starts[k], starts[k + 1]
        if s1 == e1:
            continue
        for mask in masks:
            k2 = k ^ mask
            if mask != 0 and k2 < k:
                continue  # joined from k2's side
            s2, e2 = starts[k2], starts[k2 + 1]
            for p in range(s1, e1):
                hp = sorted_h[p]
                for q in range(p + 1 if mask == 0 else s2, e2):
                    x = hp ^ sorted_h[q]
                    if _popcount(x) > threshold:
                        continue
                    first = True
                    for c in range(chunk):
                        part = (x >> np.uint64(lows[c])) & np.uint64((1 << widths[c]) - 1)
                        if _popcount(part) <= radii[c]:
                            first = False  # reported by chunk c
                            break
                    if not first:
                        continue
                    if found == cap:
                        cap *= 2
                        grown = np.empty((cap, 2), np.int64)
                        grown[:found] = out[:found]
                        out = grown
                    a, b = order[p], order[q]
                    out[found, 0], out[found, 1] = min(a, b), max(a, b)
                    found += 1
    return out[:found]
