"""How fast is `predict` on CPU, and what do loading once and batching buy?

Question: with the model loaded once per process, what is the single-image latency (p50/p95)
and the throughput at batch 1, 8 and 32 through ``predict_inputs`` (file read + intake
validation + model), and how does that compare, in the same run, with the naive ways:
reloading the model for every image, and calling ``Classifier.predict`` one image at a time?

Model: ``--model RUN_DIR``, else ``<data_dir>/runs/LATEST``, else a tiny run trained here on
drawn covers (logreg head; the backbone and so the speed are the same as a real run's).
Images: real covers from ../shared/data/covers-5genre when present, else drawn 500 px covers.

    .venv/bin/python benchmarks/predict.py [--model RUN_DIR] [--calls 50] [--images 64]

Prints a table and writes benchmarks/results/predict.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sleeve.core.settings import load_settings
from sleeve.inference.classifier import Classifier
from sleeve.inference.predict import predict_inputs
from sleeve.inference.rundir import latest_run

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
RESULTS = REPO / "benchmarks" / "results" / "predict.json"


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def benchmark_images(n: int, workdir: Path) -> tuple[list[Path], str]:
    if SHARED.is_dir():
        files = sorted(SHARED.glob("*/*.jpg"))
        if len(files) >= n:
            step = len(files) // n
            return files[::step][:n], f"real covers from {SHARED}"
    from sleeve.fakes.covers import cover_jpeg

    folder = workdir / "covers"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.jpg"
        path.write_bytes(cover_jpeg(("jazz", "metal", "rap", "pop")[i % 4], i, 500))
        paths.append(path)
    return paths, "drawn 500 px covers (shared covers not found)"


def find_run(model: Path | None, workdir: Path) -> tuple[Path, str]:
    if model is not None:
        return model, "given with --model"
    latest = latest_run(load_settings().runs_dir)
    if latest is not None and latest.root.exists():
        return latest.root, "<data_dir>/runs/LATEST"
    return train_tiny_run(workdir), "tiny run trained here on drawn covers (no run found)"


def train_tiny_run(workdir: Path) -> Path:
    """A logreg run on a small synthetic export: the backbone (what dominates predict time)
    is the same Lite0 a real run uses; only the head is small."""
    from sleeve.training.run import TrainConfig, train_and_evaluate

    sys.path.insert(0, str(REPO))  # the drawn-cover export writer is a test helper
    from tests.synthetic import write_synthetic_export

    export = write_synthetic_export(workdir / "export")
    config = TrainConfig(methods=("logreg",), device="cpu", progress=False)
    return train_and_evaluate(export, workdir / "run", config).run_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, help="run directory to measure")
    p.add_argument("--calls", type=int, default=50, help="single-image calls timed (50)")
    p.add_argument("--images", type=int, default=64, help="images for throughput (64)")
    p.add_argument("--naive-images", type=int, default=5, help="images for reload-per-image (5)")
    args = p.parse_args(argv)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sleeve-bench-predict-") as tmp:
        workdir = Path(tmp)
        run_dir, run_origin = find_run(args.model, workdir)
        images, image_origin = benchmark_images(args.images, workdir)
        settings = load_settings()
        print(f"run: {run_dir} ({run_origin})", file=sys.stderr)
        print(f"images: {len(images)} {image_origin}", file=sys.stderr)

        load_seconds = [_timed(lambda: Classifier.load(run_dir)) for _ in range(2)]
        clf = Classifier.load(run_dir)
        one = [str(images[0])]
        for _ in range(5):  # warm-up: first calls pay for allocator and kernel selection
            predict_inputs(clf, one, 3, settings, batch_size=1, workers=1)
        single = [
            _timed(lambda i=i: predict_inputs(clf, [str(images[i % len(images)])], 3, settings))
            for i in range(args.calls)
        ]

        naive_reload = [
            _timed(lambda i=i: Classifier.load(run_dir).predict(str(images[i]), top_k=3))
            for i in range(args.naive_images)
        ]
        paths = [str(p) for p in images]
        naive_loop = _timed(lambda: [clf.predict(p, top_k=3) for p in paths])
        throughput = {}
        for batch in (1, 8, 32):
            seconds = _timed(lambda b=batch: predict_inputs(clf, paths, 3, settings, batch_size=b))
            throughput[batch] = len(paths) / seconds

    p50, p95 = statistics.median(single), _percentile(single, 95)
    reload_per_image = statistics.median(naive_reload)
    loop_ips = len(paths) / naive_loop
    result = {
        "question": "predict latency and throughput on CPU, model loaded once, vs naive",
        "run_dir": str(run_dir),
        "run_origin": run_origin,
        "method": clf.method,
        "backbone": clf.payload["backbone"]["name"],
        "image_size": clf.recipe.size,
        "images": image_origin,
        "n_images": len(paths),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            # other work on the machine slows every row alike; ratios stay comparable
            "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "model_load_seconds": min(load_seconds),
        "single_image_latency_seconds": {"p50": p50, "p95": p95, "calls": len(single)},
        "naive_reload_per_image_seconds": reload_per_image,
        "naive_per_image_predict_images_per_second": loop_ips,
        "throughput_images_per_second": {str(b): v for b, v in throughput.items()},
        "ratios": {
            "reload_per_image_over_loaded_p50": reload_per_image / p50,
            "batch32_over_batch1": throughput[32] / throughput[1],
            "batch8_over_batch1": throughput[8] / throughput[1],
            "batch32_over_naive_per_image_predict": throughput[32] / loop_ips,
        },
    }
    print_table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0


def _ips(value: float) -> str:
    return f"{value:.1f} img/s"


def print_table(r: dict) -> None:
    lat = r["single_image_latency_seconds"]
    tp = r["throughput_images_per_second"]
    ratios = r["ratios"]
    rows = [
        ("run", f"{r['run_dir']} ({r['run_origin']})"),
        ("model", f"{r['method']} on {r['backbone']} @ {r['image_size']} px"),
        ("images", f"{r['n_images']} {r['images']}"),
        ("torch threads / cpus", f"{r['machine']['torch_threads']} / {r['machine']['cpu_count']}"),
        ("load average before/after", r["machine"]["load_average_before_after"]),
        ("model load", f"{r['model_load_seconds'] * 1000:.0f} ms"),
        ("single image p50 / p95", f"{lat['p50'] * 1000:.1f} / {lat['p95'] * 1000:.1f} ms"),
        (
            "naive: reload per image",
            f"{r['naive_reload_per_image_seconds'] * 1000:.0f} ms/img"
            f"  ({ratios['reload_per_image_over_loaded_p50']:.1f}x slower than loaded p50)",
        ),
        (
            "naive: predict() per image",
            f"{r['naive_per_image_predict_images_per_second']:.1f} img/s",
        ),
        *[(f"predict_inputs batch {b}", _ips(v)) for b, v in tp.items()],
        ("batch 32 / batch 1", f"{ratios['batch32_over_batch1']:.2f}x"),
        ("batch 32 / naive predict()", f"{ratios['batch32_over_naive_per_image_predict']:.2f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    raise SystemExit(main())
