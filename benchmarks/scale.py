"""Beyond one machine: per-cover stages on the local pool and on Ray, the near-duplicate search
at 10^5-10^7 hashes, and the cost model's inputs for 10^6 covers (docs/scale.md).

--part stages (on an even sample of N shared covers, default 200; --part engines: this first
item alone):
  * through the engine seam, best of 3 after a warm-up, the load average beside each: hashing
    (dataset/dedup/hashing.py's batch function) and the build's per-cover pass without OCR
    (dataset/per_cover.py: pHash, Lite0 embedding, colour/texture/structure from one read),
    local 1 worker (in-process), local 2 workers, Ray with 1 and with 2 worker CPUs (a real
    head started on 127.0.0.1 for each, tests/ray_support.py), covers/s and the Ray/local time
    ratio at equal workers. A local pool starts (and loads its models) in every timed run, as a
    build's stage does; Ray's workers stay up between runs, as on a cluster;
  * OCR (dataset/text/ocr.py, read_words) and the Lite0 embedding (vision/embeddings.encode, 224 px,
    batch 32) in this process on small samples: CPU seconds per cover (time.process_time, so
    the figure is what a dedicated core takes whatever the machine's load), and the bytes each
    stage keeps per cover.
--part geometry: the visual stage's geometric check on the warmed catalog's candidate pairs
  (/work/base-data, read only) in this process, on the local engine with 2 workers and on Ray
  with 2 worker CPUs: seconds and whether the verdicts are the same.
--part search: the near-duplicate search (dataset/dedup/neighbours.py) on random 64-bit hashes with
  1 % planted near pairs at threshold 10: against the numpy join it replaced
  (benchmarks/tools/mih_numpy.py) at 10^5 and 3x10^5, same run, same pairs; alone at 10^6; at
  10^7 on a sample of its key-range shards (every shard is independent: the sharded design),
  time scaled by the shards' share of the estimated work. Each size runs in a fresh process
  for its peak memory (ru_maxrss).

The machine is shared (~8 agents on 2 cores): the load average is recorded before and after,
and ratios are only taken between figures of the same run.

    .venv/bin/python benchmarks/scale.py [--part stages|engines|geometry|search|ddp|all] [--n 200]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "benchmarks" / "results" / "scale.json"
COVERS = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
THRESHOLD = 10
WARMED = Path("/work/base-data")  # the warmed catalog of the shared covers (HELPERS.md), read only
COVERS_TARGET = 10**6  # the cost model's dataset size
REPEATS = 3  # engine timings: the best of 3 (the shared machine's load comes and goes)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def sample_covers(n: int) -> list[Path]:
    files = sorted(p for p in COVERS.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    step = max(1, len(files) // n)
    return files[::step][:n]


# -- per-cover stages ---------------------------------------------------------------------------


def time_hashing(engine, paths: list[Path]) -> float:  # type: ignore[no-untyped-def]
    from sleeve.dataset.dedup.hashing import _CHUNK, hash_batch

    jobs = [(str(p), "phash") for p in paths]
    t0 = time.perf_counter()
    done = sum(len(r) for _, r in engine.map_batches(hash_batch, jobs, _CHUNK))
    assert done == len(jobs)
    return time.perf_counter() - t0


def time_pass(engine, paths: list[Path]) -> float:  # type: ignore[no-untyped-def]
    """The build's per-cover pass (dataset/per_cover.py) without the words: pHash, the Lite0
    embedding and the colour, texture and structure attributes from one read per cover."""
    from sleeve.dataset.per_cover import BATCH, Item, Plan, run_batch

    plan = Plan("phash", 224, False, ("colour", "texture", "structure"))
    items = [
        Item(f"{k:064x}", str(p.relative_to(COVERS)), k, True, True, False, plan.attributes)
        for k, p in enumerate(paths)
    ]
    t0 = time.perf_counter()
    fn = functools.partial(run_batch, str(COVERS), plan)
    results = [r for _, batch in engine.map_batches(fn, items, BATCH) for r in batch]
    assert len(results) == len(items) and all(r.embedding is not None for r in results)
    return time.perf_counter() - t0


def compare_engines(timed, paths: list[Path], start_method: str | None) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """``timed(engine, paths)`` on local 1 and 2 workers, then Ray with 1 and 2 worker CPUs
    (a head started for each); the best of REPEATS after a warm-up, and the load average
    (1 min) right after each configuration's runs."""
    from tests.ray_support import LOOPBACK_ENV, start_head, stop_head

    os.environ.update(LOOPBACK_ENV)  # before ray is imported: the driver stays on loopback
    from sleeve.core.engine import Engine, LocalEngine
    from sleeve.core.engine_ray import RayEngine

    rows: dict[str, float] = {}
    loads: dict[str, float] = {}
    engine: Engine
    for workers in (1, 2):
        key = f"local-{workers}"
        timed(LocalEngine(workers, start_method), paths[:16])  # page cache, models exported
        engine = LocalEngine(workers, start_method)
        rows[key] = min(timed(engine, paths) for _ in range(REPEATS))
        loads[key] = load()[0]
        print(f"  {timed.__name__} {key}: {rows[key]:.2f} s (load {loads[key]})", flush=True)
    for cpus in (1, 2):
        key = f"ray-{cpus}"
        head = start_head(cpus)
        try:
            engine = RayEngine(head.address)
            timed(engine, paths[: 16 * cpus])  # workers started, models loaded
            rows[key] = min(timed(engine, paths) for _ in range(REPEATS))
            loads[key] = load()[0]
        finally:
            stop_head(head)
        print(f"  {timed.__name__} {key}: {rows[key]:.2f} s (load {loads[key]})", flush=True)
    return {
        "covers": len(paths),
        "seconds": {k: round(v, 3) for k, v in rows.items()},
        "covers_per_s": {k: round(len(paths) / v, 1) for k, v in rows.items()},
        "load_1min_after": loads,
        "ray_over_local_time": {
            str(w): round(rows[f"ray-{w}"] / rows[f"local-{w}"], 2) for w in (1, 2)
        },
        "local_2_over_1_speedup": round(rows["local-1"] / rows["local-2"], 2),
    }


def engines(paths: list[Path]) -> dict[str, object]:
    # hashing: fork is safe (no torch); the pass: spawn, as the product starts its workers
    return {
        "hashing_engines": compare_engines(time_hashing, paths, None),
        "pass_engines": compare_engines(time_pass, paths, "spawn"),
    }


def geometry_engines(data_dir: Path = WARMED) -> dict[str, object]:
    """The visual stage's geometric check on the warmed catalog's candidate pairs (its cached
    Lite0 embeddings, k = 8, the stage's cosine floor): in this process (what a build did
    before), on the local engine with 2 workers (what `build-dataset` now does), and on Ray
    with 2 worker CPUs; whether all three give the same verdicts."""
    from tests.ray_support import LOOPBACK_ENV, start_head, stop_head

    os.environ.update(LOOPBACK_ENV)
    from sleeve.core.engine import Engine, LocalEngine
    from sleeve.core.engine_ray import RayEngine
    from sleeve.dataset.dedup.geometry import verify_pairs
    from sleeve.dataset.dedup.lookalike import candidate_pairs
    from sleeve.dataset.dedup.visual_settings import VisualDedup

    cache = next((data_dir / "cache" / "embeddings").glob("efficientnet_lite0-*-224px"))
    shas = (cache / "sha256.txt").read_text().split()
    feats = np.load(cache / "features.npy")
    paths = {p.stem: p for p in (data_dir / "images").glob("*/*")}
    covers = [(sha, str(paths[sha].relative_to(data_dir))) for sha in shas]
    stage = VisualDedup()
    pairs = [
        (int(i), int(j))
        for i, j, _ in candidate_pairs(feats, k=stage.k, min_cosine=stage.min_cosine)
    ]
    found, seconds = {}, {}
    runs: dict[str, Engine | None] = {"in_process": None, "local-2": LocalEngine(2)}
    for name, local in runs.items():
        t0 = time.perf_counter()
        found[name] = verify_pairs(pairs, covers, data_dir, engine=local)
        seconds[name] = round(time.perf_counter() - t0, 2)
        print(f"  geometry {name}: {seconds[name]} s", flush=True)
    head = start_head(2)
    try:
        engine = RayEngine(head.address)
        t0 = time.perf_counter()
        found["ray-2"] = verify_pairs(pairs, covers, data_dir, engine=engine)
        seconds["ray-2"] = round(time.perf_counter() - t0, 2)  # cold: workers start here
    finally:
        stop_head(head)
    print(f"  geometry ray-2: {seconds['ray-2']} s", flush=True)
    same = all(found[k] == found["in_process"] for k in found)
    confirmed = sum(
        m.passes(stage.min_inliers, stage.max_disagreement) for m in found["in_process"].values()
    )
    return {
        "covers": len(covers),
        "pairs": len(pairs),
        "confirmed_by_geometry": confirmed,
        "seconds": seconds,
        "same_verdicts": same,
        "local_2_over_in_process_speedup": round(seconds["in_process"] / seconds["local-2"], 2),
    }


def cpu_per_cover(paths: list[Path], hashing_paths: list[Path]) -> dict[str, object]:
    """CPU seconds per cover of each per-cover stage in this process, and bytes kept."""
    out: dict[str, object] = {}
    from sleeve.dataset.dedup.hashing import hash_batch

    t0 = time.process_time()
    hash_batch([(str(p), "phash") for p in hashing_paths])
    out["hash"] = {
        "cpu_s_per_cover": round((time.process_time() - t0) / len(hashing_paths), 5),
        "covers": len(hashing_paths),
        "bytes_per_cover": 16 + 8 + 8,  # 16 hex digits + image id + algo row overhead (approx)
    }
    out["cover_file"] = {
        "bytes_per_cover": int(np.mean([p.stat().st_size for p in hashing_paths])),
        "covers": len(hashing_paths),
    }
    try:
        from sleeve.dataset.text.ocr import dumps, read_words

        few = paths[:16]
        read_words(few[0])  # models loaded
        t0 = time.process_time()
        sizes = [len(dumps(read_words(p)).encode()) for p in few]
        out["ocr"] = {
            "cpu_s_per_cover": round((time.process_time() - t0) / len(few), 4),
            "covers": len(few),
            "bytes_per_cover": int(np.mean(sizes)),
        }
    except ImportError as exc:
        out["ocr"] = {"skipped": f"OCR extra not installed ({exc.name})"}
    import torch

    from sleeve.core.vision.backbones import configure_threads, load_backbone
    from sleeve.core.vision.embeddings import FeatureRecipe, encode
    from sleeve.core.vision.samples import Sample

    device = torch.device("cpu")
    configure_threads(device)
    torch.set_num_threads(1)  # one core's cost; workers run one thread each
    backbone = load_backbone("efficientnet_lite0", "auto", device)
    samples = [Sample(p, "", "", "", 0) for p in paths[:64]]
    encode(samples[:8], backbone, FeatureRecipe(224), device, progress=False)
    t0 = time.process_time()
    feats = encode(samples, backbone, FeatureRecipe(224), device, progress=False)
    out["embedding"] = {
        "cpu_s_per_cover": round((time.process_time() - t0) / len(samples), 4),
        "covers": len(samples),
        "bytes_per_cover": int(feats.shape[1] * 4),  # float32 in the sha256-keyed cache
        "threads": 1,
    }
    for stage, row in out.items():
        print(f"  {stage:<10} {row}", flush=True)
    return out


def shared_covers_same_pairs(paths: list[Path]) -> dict[str, object]:
    """The product's search against the numpy join it replaced on the shared covers' pHashes,
    at build-dataset's threshold (10) and the visual stage's candidate threshold (14)."""
    from benchmarks.tools.mih_numpy import near_pairs as numpy_pairs
    from sleeve.dataset.dedup.hashing import hash_files
    from sleeve.dataset.dedup.neighbours import hex_to_uint64, near_pairs

    hashed = [v for v, _ in hash_files(paths, "phash", progress=False) if v is not None]
    h = hex_to_uint64(hashed)
    out: dict[str, object] = {"covers": len(h)}
    for t in (10, 14):
        old, new = numpy_pairs(h, t), near_pairs(h, t)
        out[f"threshold_{t}"] = {"pairs": len(new), "same_pairs": bool(np.array_equal(old, new))}
    print(f"  shared covers: {out}", flush=True)
    return out


# -- near-duplicate search ----------------------------------------------------------------------


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    """benchmarks/dedup.py's hashes: random, 1 % of them planted pairs 0..10 bits apart."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2)
    h |= rng.integers(0, 2, size=n, dtype=np.uint64)
    planted = rng.choice(n, size=n // 100, replace=False)
    flips = rng.integers(0, 11, size=len(planted) // 2)
    for a, b, k in zip(planted[::2], planted[1::2], flips, strict=False):
        bits = rng.choice(64, size=int(k), replace=False)
        h[b] = h[a] ^ np.uint64(sum(1 << int(x) for x in bits))
    return h


def _search_job(n: int, which: str) -> dict[str, object]:
    """In a fresh process: one search, its time, pairs and peak memory."""
    h = synthetic(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    if which == "numpy":
        from benchmarks.tools.mih_numpy import near_pairs as numpy_pairs

        pairs = numpy_pairs(h, THRESHOLD)
    else:
        from sleeve.dataset.dedup.neighbours import near_pairs

        near_pairs(h[:1000], THRESHOLD)  # compiled code loaded (cached on disk after a first run)
        t0, c0 = time.perf_counter(), time.process_time()
        pairs = near_pairs(h, THRESHOLD)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = int(np.bitwise_xor.reduce((pairs[:, 0] * 1_000_003 + pairs[:, 1]).astype(np.int64)))
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu, 2),  # all threads
        "pairs": len(pairs),
        "digest": digest,
        "peak_mib": round(peak / 1024, 1),
        "search_mib": round((peak - base) / 1024, 1),
    }


def _sharded_job(n: int, shard_share: float) -> dict[str, object]:
    """In a fresh process: the 10^7 search's tables for every chunk, then the join over an even
    sample of its key-range shards; the full time is the sample's scaled by its work share."""
    from sleeve.dataset.dedup import neighbours as nb

    h = synthetic(n)
    t0 = time.perf_counter()
    plan = nb.chunk_plan(nb.choose_chunks(n, THRESHOLD), THRESHOLD)
    lows = np.array([lo for lo, _, _ in plan], dtype=np.int64)
    widths = np.array([w for _, w, _ in plan], dtype=np.int64)
    radii = np.array([r for _, _, r in plan], dtype=np.int64)
    build_s, join_s, join_cpu, found = 0.0, 0.0, 0.0, 0
    shards_total = shards_run = 0
    for c, (lo, width, radius) in enumerate(plan):
        if radius < 0:
            continue
        t1 = time.perf_counter()
        keys = ((h >> np.uint64(lo)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        starts = np.zeros((1 << width) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=1 << width), out=starts[1:])
        sorted_h = h[order]
        masks = nb._flip_masks(width, radius)
        build_s += time.perf_counter() - t1
        edges = np.linspace(0, 1 << width, 1025).astype(np.int64)  # 1,024 shards per chunk
        step = round(1 / shard_share)
        shards_total += len(edges) - 1
        tables = (sorted_h, order, starts, masks, c, lows, widths, radii, THRESHOLD)
        nb._join_buckets(*tables, 0, 1)  # compiled code loaded
        for i in range(0, len(edges) - 1, step):
            t1, c1 = time.perf_counter(), time.thread_time()
            found += len(nb._join_buckets(*tables, int(edges[i]), int(edges[i + 1])))
            join_s += time.perf_counter() - t1
            join_cpu += time.thread_time() - c1
            shards_run += 1
    share = shards_run / shards_total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "chunks": [list(p) for p in plan],
        "shards": shards_total,
        "shards_run": shards_run,
        "tables_s": round(build_s, 1),
        "join_sample_s": round(join_s, 1),
        "join_one_thread_s_estimated": round(join_s / share, 0),
        # CPU seconds: what a dedicated core takes, whatever the machine's load
        "join_sample_cpu_s": round(join_cpu, 1),
        "join_one_core_cpu_s_estimated": round(join_cpu / share, 0),
        "pairs_in_sample": found,
        # random hashes have ~5x10^5 pairs within 10 bits at 10^7 besides the 5x10^4 planted
        "pairs_scaled": round(found / share),
        "peak_mib": round(peak / 1024, 1),
        "total_s": round(time.perf_counter() - t0, 1),
    }


def in_fresh_process(fn, *args):  # type: ignore[no-untyped-def]
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def search() -> dict[str, object]:
    out: dict[str, object] = {"threshold": THRESHOLD, "same_run_vs_numpy_join": []}
    for n in (10**5, 3 * 10**5):
        old = in_fresh_process(_search_job, n, "numpy")
        new = in_fresh_process(_search_job, n, "numba")
        same = old["pairs"] == new["pairs"] and old["digest"] == new["digest"]
        row = {"n": n, "numpy_join": old, "bucket_join": new, "same_pairs": same}
        row["speedup"] = round(old["seconds"] / max(new["seconds"], 1e-9), 2)
        out["same_run_vs_numpy_join"].append(row)  # type: ignore[attr-defined]
        print(f"  n={n:,}: numpy join {old['seconds']} s, bucket join {new['seconds']} s "
              f"(x{row['speedup']}), same pairs: {same}", flush=True)  # fmt: skip
    out["n_1e6"] = in_fresh_process(_search_job, 10**6, "numba")
    print(f"  n=1,000,000: {out['n_1e6']}", flush=True)
    out["n_1e7_sharded"] = in_fresh_process(_sharded_job, 10**7, 1 / 32)
    print(f"  n=10,000,000 (1/32 of the shards): {out['n_1e7_sharded']}", flush=True)
    return out


# -- fine-tuning under torchrun ------------------------------------------------------------------


def ddp() -> dict[str, object]:
    """The fine-tune rung on a synthetic export (tests/synthetic.py), 1 process vs torchrun with
    2 (gloo, loopback): seconds per epoch from each run's checkpoints/summary.csv."""
    import csv
    import tempfile

    from sleeve.inference.rundir import Run
    from tests.synthetic import write_synthetic_export
    from tests.training.test_ddp import train

    out: dict[str, object] = {"export": "3 genres x (32 train, 8 val, 8 test), 96 px"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export = write_synthetic_export(root / "export", per_split=(32, 8, 8))
        for processes in (1, 2):
            t0 = time.perf_counter()
            done = train(export, root / f"run{processes}", root / f"data{processes}", processes)
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                out[f"processes_{processes}"] = {"failed": done.stderr[-500:]}
                continue
            run = Run(root / f"run{processes}")
            with (run.checkpoints_dir / "summary.csv").open() as fh:
                epochs = list(csv.DictReader(fh))
            metrics = json.loads(run.metrics_path.read_text())
            ft = metrics["methods"]["finetune"]
            out[f"processes_{processes}"] = {
                "epoch_s": [float(e["seconds"]) for e in epochs],
                "command_s": round(wall, 1),
                "val_accuracy": ft["val"]["accuracy"],
                "test_accuracy": ft["test"]["accuracy"],
            }
            print(f"  {processes} process(es): {out[f'processes_{processes}']}", flush=True)
    one, two = out.get("processes_1"), out.get("processes_2")
    if isinstance(one, dict) and isinstance(two, dict) and "epoch_s" in one and "epoch_s" in two:
        out["epoch_time_2_over_1"] = round(
            float(np.mean(two["epoch_s"])) / float(np.mean(one["epoch_s"])), 2
        )
    return out


# -- the cost model ---------------------------------------------------------------------------

CLUSTER_CORES = 4 * 16  # the docs' Ray cluster: 4 nodes x 16 cores


def cost_model(result: dict) -> dict[str, object]:
    """Hours and storage per stage for 10^6 covers, from this file's measurements (and the
    attributes' CPU cost from benchmarks/results/attributes.json, the stage's own benchmark).
    Hours = CPU s/cover x 10^6 / cores / 3600; on Ray x the measured Ray/local time ratio at
    2 workers when above 1 (on a loaded machine Ray's daemonised workers get their own
    scheduler group and can run faster than local ones: no speed-up is credited for that)."""
    stages = result.get("stages", {})
    cpu = stages.get("cpu_per_cover", {})
    ratio = stages.get("hashing_engines", {}).get("ray_over_local_time", {}).get("2")
    attrs_file = OUT.parent / "attributes.json"
    per_cover = {k: v["cpu_s_per_cover"] for k, v in cpu.items() if "cpu_s_per_cover" in v}
    if attrs_file.is_file():
        speed = json.loads(attrs_file.read_text())["speed"]
        ms = speed["decode_cpu_ms"] + sum(
            speed["extractors"][e]["cpu_ms_per_cover"] for e in ("colour", "texture", "structure")
        )
        per_cover["attributes"] = round(ms / 1000, 5)
    rows = {}
    for stage, s_per_cover in per_cover.items():
        cpu_h = s_per_cover * COVERS_TARGET / 3600
        bytes_per = cpu.get(stage, {}).get("bytes_per_cover")
        rows[stage] = {
            "cpu_s_per_cover": s_per_cover,
            "cpu_hours": round(cpu_h, 2),
            "hours_one_2_core_machine": round(cpu_h / 2, 2),
            "hours_ray_4x16_cores": round(cpu_h / CLUSTER_CORES * max(ratio or 1.0, 1.0), 3),
            "storage_gb": round(bytes_per * COVERS_TARGET / 1e9, 2) if bytes_per else None,
        }
    search = result.get("search", {})
    return {
        "covers": COVERS_TARGET,
        "ray_over_local_time_used": ratio,
        "stages": rows,
        "cover_store_gb": round(cpu.get("cover_file", {}).get("bytes_per_cover", 0) * 1e6 / 1e9, 2),
        "near_duplicate_search_1e6_s": search.get("n_1e6", {}).get("seconds"),
        "gpu_embeddings": "not measured: no GPU was lent to this task",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parts = ("stages", "engines", "geometry", "search", "ddp", "cost", "all")  # cost: model only
    ap.add_argument("--part", choices=parts, default="all")
    ap.add_argument("--n", type=int, default=200, help="shared covers for the engine timings")
    args = ap.parse_args()
    result: dict[str, object] = json.loads(OUT.read_text()) if OUT.is_file() else {}
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "note": "shared by ~8 agents; load averages below are (1, 5, 15 min)",
    }
    if args.part in ("stages", "all"):
        if not COVERS.is_dir():
            print(f"shared covers not found at {COVERS}", file=sys.stderr)
            return 1
        paths = sample_covers(args.n)
        before = load()
        stages = engines(paths)
        stages["cpu_per_cover"] = cpu_per_cover(paths, paths)
        stages["shared_covers_search"] = shared_covers_same_pairs(sample_covers(10**6))
        stages["load_before_after"] = [before, load()]
        result["stages"] = stages
    if args.part == "engines":  # the engine comparison alone, the rest of "stages" kept
        if not COVERS.is_dir():
            print(f"shared covers not found at {COVERS}", file=sys.stderr)
            return 1
        before = load()
        stages = dict(result.get("stages", {}))  # type: ignore[call-overload]
        stages.update(engines(sample_covers(args.n)))
        stages["engines_load_before_after"] = [before, load()]
        result["stages"] = stages
    if args.part in ("geometry", "all"):
        before = load()
        checked = geometry_engines()
        checked["load_before_after"] = [before, load()]
        result["geometry"] = checked
    if args.part in ("search", "all"):
        before = load()
        found = search()
        found["load_before_after"] = [before, load()]
        result["search"] = found
    if args.part in ("ddp", "all"):
        before = load()
        trained = ddp()
        trained["load_before_after"] = [before, load()]
        result["ddp"] = trained
    result["cost_model"] = cost_model(result)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
