"""Candidate look-alike pairs from cover embeddings: a FAISS nearest-neighbour search.

Each cover's ``k`` nearest neighbours by cosine similarity (inner product of L2-normalised
embeddings) above ``min_cosine`` become candidate pairs; the geometric check
(:mod:`sleeve.dataset.geometry`) decides which are the same artwork. Up to ``EXACT_UP_TO``
vectors the index is exact (``IndexFlatIP``: one BLAS product per query block); above, an
inverted file with 8-bit scalar quantisation (``IndexIVFScalarQuantizer``, ~4 sqrt(n) lists,
``NPROBE`` probed) keeps memory at a byte per dimension and the search sub-quadratic. It may
miss a neighbour the exact search finds; only candidates are lost, never a wrong merge made.
"""

from __future__ import annotations

import math

import numpy as np

EXACT_UP_TO = 50_000
NPROBE = 16
_BLOCK = 4096  # queries per search call: bounds the (block, k) result arrays


def normalised(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def build_index(x: np.ndarray, *, exact_up_to: int = EXACT_UP_TO, seed: int = 0):  # type: ignore[no-untyped-def]
    """A FAISS inner-product index over the rows of ``x`` (already L2-normalised)."""
    import faiss

    n, d = x.shape
    if n <= exact_up_to:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = max(16, int(4 * math.sqrt(n)))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(seed)
        train = x[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        index.train(train)
        index.nprobe = NPROBE
    index.add(x)
    return index


def candidate_pairs(
    embeddings: np.ndarray,
    *,
    k: int = 8,
    min_cosine: float = 0.8,
    exact_up_to: int = EXACT_UP_TO,
) -> np.ndarray:
    """Pairs ``(i, j, cosine)``, ``i < j``, where ``j`` is among ``i``'s ``k`` nearest
    neighbours (or the reverse) with cosine >= ``min_cosine``; sorted by (i, j), float64."""
    n = len(embeddings)
    if n < 2:
        return np.zeros((0, 3))
    x = normalised(embeddings)
    index = build_index(x, exact_up_to=exact_up_to)
    kk = min(k + 1, n)  # + 1: a vector's nearest neighbour is itself
    found = []
    for lo in range(0, n, _BLOCK):
        sims, nbrs = index.search(x[lo : lo + _BLOCK], kk)
        rows = np.repeat(np.arange(lo, lo + len(sims)), kk)
        cols, s = nbrs.ravel(), sims.ravel()
        keep = (cols >= 0) & (cols != rows) & (s >= min_cosine)
        found.append(np.stack([rows[keep], cols[keep], s[keep]], axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 3))
    if len(pairs) == 0:
        return np.zeros((0, 3))
    i = np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    j = np.maximum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    _, first = np.unique(i * n + j, return_index=True)
    return np.stack([i[first], j[first], pairs[first, 2].astype(np.float64)], axis=1)
