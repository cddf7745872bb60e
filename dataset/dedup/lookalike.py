"""Candidate look-alike pairs from cover embeddings: a FAISS nearest-neighbour search.

Each cover's ``k`` nearest neighbours by cosine similarity (L2-normalised embeddings) whose
exact cosine reaches ``min_cosine`` become candidate pairs; the geometric check
(:mod:`sleeve.dataset.dedup.geometry`) decides which are the same artwork. Up to ``EXACT_UP_TO``
vectors the index is exact (``IndexFlatIP``: one BLAS product per query block). Above, a flat
scan grows as n^2 (benchmarks/dedup.py, ``visual.search_scaling`` in its JSON), so the index
becomes ``PCA128,IVF{2 sqrt(n)},PQ64x4fs``: vectors projected to 128 dimensions, searched in the
``NPROBE`` nearest of ~2 sqrt(n) k-means lists as 4-bit product-quantised codes. It only
shortlists: ``SHORTLIST`` times the wanted neighbours are re-ranked by their exact cosine from
the full vectors (the projection alone loses about a third of the true 8 nearest on Lite0-like
vectors, benchmarks/embedding_search.py). It may still miss a neighbour the exact search
finds: only a candidate is lost, never a wrong merge made.
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
# approximate index: each vector's k + 1 nearest are re-ranked by exact cosine among this many
# times as many shortlisted by the index (benchmarks/embedding_search.py: recall against x1)
SHORTLIST = 16
_BLOCK = 4096  # queries per search call: bounds the (block, k) result arrays
_RERANK = 256  # queries per exact re-rank: bounds the (rows, shortlist, d) gathered vectors


def normalised(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def index_spec(d: int, n: int, *, exact_up_to: int = EXACT_UP_TO) -> str:
    """The FAISS factory string of the index for ``n`` vectors of ``d`` dimensions."""
    if n <= exact_up_to:
        return "Flat"
    nlist = max(16, int(2 * math.sqrt(n)))
    dims = min(PCA_DIMS, d)
    # 4-bit PQ codes (2 dimensions each) scanned with SIMD (fast-scan): a list of 500 vectors
    # costs what a few float vectors would; the codes only shortlist, the exact re-rank orders
    # (at 10^6, 4 dimensions a code or a shortlist of 4 lost a quarter of the recall)
    return f"PCA{dims},IVF{nlist},PQ{dims // 2}x4fs"


def new_index(d: int, n: int, train: np.ndarray, *, exact_up_to: int = EXACT_UP_TO) -> faiss.Index:
    """An empty FAISS index for ``n`` unit vectors of ``d`` dimensions, trained on ``train``
    (a random sample of them) when it is approximate."""
    import faiss

    spec = index_spec(d, n, exact_up_to=exact_up_to)
    if spec == "Flat":
        return faiss.IndexFlatIP(d)
    index = faiss.index_factory(d, spec, faiss.METRIC_L2)
    nlist = faiss.extract_index_ivf(index).nlist
    index.train(np.ascontiguousarray(train[: TRAIN_PER_LIST * nlist]))
    faiss.extract_index_ivf(index).nprobe = NPROBE
    return index


def build_index(x: np.ndarray, *, exact_up_to: int = EXACT_UP_TO, seed: int = 0) -> faiss.Index:
    """A FAISS index holding the rows of ``x`` (already L2-normalised)."""
    n = len(x)
    sample = x
    if n > exact_up_to:  # only the rows k-means trains on: no permuted copy of all of x
        nlist = max(16, int(2 * math.sqrt(n)))
        sample = x[np.random.default_rng(seed).permutation(n)[: TRAIN_PER_LIST * nlist]]
    index = new_index(x.shape[1], n, sample, exact_up_to=exact_up_to)
    index.add(x)
    return index


def nearest(
    x: np.ndarray, k: int, *, exact_up_to: int = EXACT_UP_TO
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest rows of ``x`` (L2-normalised) by cosine, itself included:
    ids (-1 where there are fewer) and their exact cosines, both (n, k), nearest first.
    Above ``exact_up_to`` the index shortlists ``SHORTLIST * k`` and the exact cosines from
    the full vectors pick the ``k``."""
    n = len(x)
    index = build_index(x, exact_up_to=exact_up_to)
    ids = np.full((n, k), -1, np.int64)
    cos = np.full((n, k), -np.inf, np.float32)
    for lo in range(0, n, _BLOCK):
        if n > exact_up_to:
            _, shortlist = index.search(x[lo : lo + _BLOCK], min(n, k * SHORTLIST))
            found, exact = _reranked(x, lo, shortlist, k)
        else:
            _, found = index.search(x[lo : lo + _BLOCK], k)
            rows = np.repeat(np.arange(lo, lo + len(found)), found.shape[1])
            # row by row, the product the flat path always computed (same bits)
            exact = np.einsum("ij,ij->i", x[rows], x[np.maximum(found, 0).ravel()])
            exact = exact.reshape(found.shape)
            exact[found < 0] = -np.inf
        ids[lo : lo + len(found), : found.shape[1]] = found
        cos[lo : lo + len(found), : found.shape[1]] = exact
    return ids, cos


def _reranked(x: np.ndarray, lo: int, found: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest of each shortlist in ``found`` (rows ``lo``... of ``x``) by exact
    cosine, and those cosines. FAISS computes the products from the full vectors where they
    lie (no gathered copy of each shortlist's rows)."""
    import faiss

    exact = np.empty(found.shape, np.float32)
    queries = np.ascontiguousarray(x[lo : lo + len(found)])
    found = np.ascontiguousarray(found, dtype=np.int64)
    # a SWIG export the stubs leave out
    faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]
        faiss.swig_ptr(exact),
        faiss.swig_ptr(queries),
        faiss.swig_ptr(x),
        faiss.swig_ptr(found),
        x.shape[1],
        len(found),
        found.shape[1],
    )
    exact[found < 0] = -np.inf
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]  # ties keep the index's order
    return np.take_along_axis(found, order, axis=1), np.take_along_axis(exact, order, axis=1)


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
    kk = min(k + 1, n)  # + 1: a vector's nearest neighbour is itself
    nbrs, exact = nearest(x, kk, exact_up_to=exact_up_to)
    rows = np.repeat(np.arange(n), kk)
    cols, cos = nbrs.ravel(), exact.ravel()
    keep = (cols >= 0) & (cols != rows) & (cos >= min_cosine)
    rows, cols, cos = rows[keep], cols[keep], cos[keep]
    if len(rows) == 0:
        return np.zeros((0, 3))
    i = np.minimum(rows, cols).astype(np.int64)
    j = np.maximum(rows, cols).astype(np.int64)
    _, first = np.unique(i * n + j, return_index=True)
    return np.stack([i[first], j[first], cos[first].astype(np.float64)], axis=1)
