"""The visual stage's embedding-neighbour search at 10^5 and 10^6 covers: k = 8 neighbours of
every vector, 1,280-d float32 (Lite0), on this machine's 2 cores.

Vectors: the real Lite0 embeddings of the shared covers (the warmed catalog's cache,
/work/base-data/cache/embeddings, 3,817 covers) replicated to n by mixing: each vector is
``(1 - w) a + w b`` of two random real embeddings (w uniform in [0, 0.5]) times per-dimension
log-normal noise (sigma 0.5), L2-normalised: non-negative and sparse like the real ones, with
their nearest-neighbour cosines printed beside the real ones'.

Per size, in a fresh process (peak memory: VmHWM, reset before each index with
/proc/self/clear_refs, minus the resident vectors):
  * exact: brute-force cosine of 1,000 sampled queries against all n (BLAS), their true 8
    nearest (self excluded);
  * before: the index the stage used, ``PCA128,IVF{2 sqrt n},Flat``, nprobe 16, no re-rank;
    search of every vector timed on all n at 10^5, on 10^5 queries scaled to n at 10^6;
  * now: :func:`sleeve.dataset.dedup.lookalike.nearest` (4-bit PQ fast-scan shortlist of
    16 x 9, exact re-rank), every vector searched, measured whole.
recall@8: the share of each query's true 8 nearest among the 8 returned (self excluded).

    .venv/bin/python benchmarks/embedding_search.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "benchmarks" / "results" / "embedding_search.json"
REAL = Path("/work/base-data/cache/embeddings")
K = 8
QUERIES = 1000
TIMED_QUERIES = 100_000  # the baseline's search, scaled to n above this
CHUNK = 50_000


def real_embeddings() -> np.ndarray:
    files = sorted(REAL.glob("efficientnet_lite0-*-224px/features.npy"))
    if not files:
        raise SystemExit(f"no cached Lite0 embeddings under {REAL}")
    return np.load(files[0]).astype(np.float32)


def mixed(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    for lo in range(0, n, CHUNK):
        m = min(CHUNK, n - lo)
        a, b = real[rng.integers(0, len(real), m)], real[rng.integers(0, len(real), m)]
        w = rng.uniform(0, 0.5, (m, 1)).astype(np.float32)
        x = ((1 - w) * a + w * b) * np.exp(rng.normal(0, 0.5, a.shape)).astype(np.float32)
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def nn_cosines(x: np.ndarray, q: np.ndarray) -> list[float]:
    s = x[q[:500]] @ x.T
    s[np.arange(len(s)), q[:500]] = -1
    return [round(float(v), 3) for v in np.percentile(s.max(axis=1), [10, 50, 90])]


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


def exact_nearest(x: np.ndarray, q: np.ndarray, block: int = 100) -> np.ndarray:
    """Each query row's true K nearest rows of ``x`` by cosine, self excluded (blocks of
    queries: a (1000, 10^6) similarity matrix and its argsort would take 12 GB)."""
    out = np.empty((len(q), K), np.int64)
    for lo in range(0, len(q), block):
        rows = q[lo : lo + block]
        sims = x[rows] @ x.T
        sims[np.arange(len(rows)), rows] = -np.inf
        top = np.argpartition(-sims, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[lo : lo + len(rows)] = np.take_along_axis(top, order, axis=1)
    return out


def recall(found: np.ndarray, truth: np.ndarray, q: np.ndarray) -> float:
    hits = 0
    for r, row in enumerate(found):
        got = [int(j) for j in row if j >= 0 and j != q[r]][:K]
        hits += len(set(got) & set(truth[r].tolist()))
    return round(hits / (K * len(q)), 4)


def one_size(n: int) -> dict[str, object]:
    import faiss

    from sleeve.dataset.dedup.lookalike import NPROBE, SHORTLIST, TRAIN_PER_LIST, index_spec
    from sleeve.dataset.dedup.lookalike import nearest as nearest_now

    faiss.omp_set_num_threads(2)
    real = real_embeddings()
    t0 = time.perf_counter()
    x = mixed(real, n)
    made_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    q = np.sort(rng.choice(n, QUERIES, replace=False))
    resident = _rss("VmRSS")
    t0 = time.perf_counter()
    truth = exact_nearest(x, q)
    exact_s = time.perf_counter() - t0
    out: dict[str, object] = {
        "n": n,
        "vectors_gb": round(x.nbytes / 1e9, 2),
        "made_s": round(made_s, 1),
        "nn_cosine_p10_p50_p90": nn_cosines(x, q),
        "exact": {"queries": QUERIES, "seconds": round(exact_s, 1)},
    }

    # before: the stage's index until now, no re-rank
    _reset_peak()
    nlist = max(16, int(2 * math.sqrt(n)))
    t0 = time.perf_counter()
    index = faiss.index_factory(x.shape[1], f"PCA128,IVF{nlist},Flat", faiss.METRIC_L2)
    index.train(x[np.random.default_rng(0).permutation(n)[: TRAIN_PER_LIST * nlist]])
    index.add(x)
    faiss.extract_index_ivf(index).nprobe = NPROBE
    build_s = time.perf_counter() - t0
    timed = min(n, TIMED_QUERIES)
    t0 = time.perf_counter()
    index.search(x[:timed], K + 1)
    search_s = (time.perf_counter() - t0) * n / timed
    _, found = index.search(x[q], K + 1)
    out["before"] = {
        "index": f"PCA128,IVF{nlist},Flat nprobe {NPROBE}",
        "build_s": round(build_s, 1),
        "search_all_s": round(search_s, 1),
        "search_extrapolated_from": timed if timed < n else None,
        "total_s": round(build_s + search_s, 1),
        "extra_peak_gb": round((_rss("VmHWM") - resident) / 1e9, 2),
        "recall_at_8": recall(found, truth, q),
    }
    del index
    print(f"  n={n:,} before {out['before']}", flush=True)

    # now: the stage's search as it is (build, shortlist, exact re-rank), every vector
    _reset_peak()
    t0 = time.perf_counter()
    ids, _ = nearest_now(x, K + 1)
    total_s = time.perf_counter() - t0
    out["now"] = {
        "index": f"{index_spec(x.shape[1], n)} nprobe {NPROBE}, shortlist {SHORTLIST} x {K + 1}, "
        "exact re-rank",
        "total_s": round(total_s, 1),
        "extra_peak_gb": round((_rss("VmHWM") - resident) / 1e9, 2),
        "recall_at_8": recall(ids[q], truth, q),
    }
    out["speedup_total"] = round(out["before"]["total_s"] / total_s, 2)  # type: ignore[index]
    print(f"  n={n:,} now {out['now']}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6])
    args = ap.parse_args()
    real = real_embeddings()
    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "note": "shared; load averages (1, 5, 15 min)"},
        "vectors": "real Lite0 embeddings of the shared covers, mixed in pairs with log-normal "
        "noise (see the script's docstring)",
        "real": {"covers": len(real)},
        "k": K,
        "sizes": {},
    }
    xr = real / np.linalg.norm(real, axis=1, keepdims=True)
    result["real"]["nn_cosine_p10_p50_p90"] = nn_cosines(xr, np.arange(len(xr)))  # type: ignore[index]
    for n in args.sizes:
        before = [round(v, 2) for v in os.getloadavg()]
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # its own peak
            row = pool.submit(one_size, n).result()
        row["load_before_after"] = [before, [round(v, 2) for v in os.getloadavg()]]
        result["sizes"][str(n)] = row  # type: ignore[index]
    print(f"\n{'n':>9}  {'approach':<8} {'total s':>9} {'peak GB':>8} {'recall@8':>9}")
    for n, row in result["sizes"].items():  # type: ignore[attr-defined]
        for name in ("before", "now"):
            r = row[name]
            extra = " (search extrapolated)" if r.get("search_extrapolated_from") else ""
            print(
                f"{int(n):>9,}  {name:<8} {r['total_s']:>9.1f} {r['extra_peak_gb']:>8.2f} "
                f"{r['recall_at_8']:>9.3f}{extra}"
            )
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
