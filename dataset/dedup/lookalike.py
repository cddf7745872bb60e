"""Candidate look-alike pairs from cover embeddings: a FAISS nearest-neighbour search.

Each cover's ``k`` nearest neighbours by cosine similarity (L2-normalised embeddings) whose
exact cosine reaches ``min_cosine`` become candidate pairs; the geometric check
(:mod:`sleeve.dataset.dedup.geometry`) decides which are the same artwork. Up to ``EXACT_UP_TO``
vectors the index is exact (``IndexFlatIP``: one BLAS product per query block). Above, a flat
scan grows as n^2 (benchmarks/dedup.py, ``visual.search_scaling`` in its JSON), so the index
becomes ``PCA128,IVF{2 sqrt(n)},Flat``: vectors projected to 128 dimensions, searched in the
``NPROBE`` nearest of ~2 sqrt(n) k-means lists. For unit vectors Euclidean order is cosine
order, and the projection keeps distances roughly; the cosine of every pair it returns is then
computed exactly from the full vectors. It may miss a neighbour the exact search finds: only a
candidate is lost, never a wrong merge made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where an index is made (it loads the native library)
    import faiss

EXACT_UP_TO = 20_000  # flat search time grows as n^2 (benchmarks/dedup.py)
PCA_DIMS = 128
NPROBE = 16
TRAIN_PER_LIST = 40  # k-means training vectors per inverted list (FAISS asks for >= 39)
_BLOCK = 4096  # queries per search call: bounds the (block, k) result arrays


def normalised(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def new_index(d: int, n: int, train: np.ndarray, *, exact_up_to: int = EXACT_UP_TO) -> faiss.Index:
    """An empty FAISS index for ``n`` unit vectors of ``d`` dimensions, trained on ``train``
    (a random sample of them) when it is approximate."""
    import faiss

    if n <= exact_up_to:
        return faiss.IndexFlatIP(d)
    nlist = max(16, int(2 * math.sqrt(n)))
    dims = min(PCA_DIMS, d)
    index = faiss.index_factory(d, f"PCA{dims},IVF{nlist},Flat", faiss.METRIC_L2)
    index.train(np.ascontiguousarray(train[: TRAIN_PER_LIST * nlist]))
    faiss.extract_index_ivf(index).nprobe = NPROBE
    return index


def build_index(x: np.ndarray, *, exact_up_to: int = EXACT_UP_TO, seed: int = 0) -> faiss.Index:
    """A FAISS index holding the rows of ``x`` (already L2-normalised)."""
    n = len(x)
    sample = x
    if n > exact_up_to:
        sample = x[np.random.default_rng(seed).permutation(n)]
    index = new_index(x.shape[1], n, sample, exact_up_to=exact_up_to)
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
        _, nbrs = index.search(x[lo : lo + _BLOCK], kk)
        rows = np.repeat(np.arange(lo, lo + len(nbrs)), kk)
        cols = nbrs.ravel()
        ok = (cols >= 0) & (cols != rows)
        rows, cols = rows[ok], cols[ok]
        # exact cosine from the full vectors, whatever the index approximated
        cos = np.einsum("ij,ij->i", x[rows], x[cols])
        keep = cos >= min_cosine
        found.append(np.stack([rows[keep], cols[keep], cos[keep]], axis=1))
    pairs = np.concatenate(found)
    if len(pairs) == 0:
        return np.zeros((0, 3))
    i = np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    j = np.maximum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    _, first = np.unique(i * n + j, return_index=True)
    return np.stack([i[first], j[first], pairs[first, 2].astype(np.float64)], axis=1)
