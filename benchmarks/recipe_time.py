"""Question: how long is a first ``train-and-evaluate`` of the shared covers with the default
recipe's rungs on Lite0, and on the Lite0+Lite1 stack (``--flip-tta --style``)? (issue 24: the
stack became the default image rung because it fits the README's time budget, 15 minutes for
4,000 covers on 2 cores)

Each recipe runs once on its own copy of a warmed catalog (``--data-dir``: OCR words cached,
an export built) with the embedding cache emptied and a fresh graph cache, so the embedding
pass and the ONNX export are part of the time, as on a user's first run. Writes
benchmarks/results/recipe_time.json; skips (exit 0) without the catalog.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sleeve.inference.rundir import Run

RESULTS = Path(__file__).parent / "results" / "recipe_time.json"
RECIPES = {
    "lite0": ["--method", "svc,text,fused"],  # the default's rungs on Lite0 alone
    "stack": [
        "--backbone",
        "efficientnet_lite0+efficientnet_lite1",
        "--flip-tta",
        "--style",
        "--method",
        "svc,text,fused",
    ],
}
BUDGET_S = 15 * 60  # the README's promise for the default recipe


def first_run(data_dir: Path, export: str, work: Path, recipe: list[str]) -> dict:
    folder = work / "data"
    shutil.copytree(data_dir, folder)
    shutil.rmtree(folder / "cache" / "embeddings", ignore_errors=True)
    env = {**os.environ, "SLEEVE_DATA_DIR": str(folder), "XDG_CACHE_HOME": str(work / "cache")}
    exe = Path(sys.executable).with_name("train-and-evaluate")
    cmd = [str(exe), "--seed", "0", "--dataset", str(folder / "datasets" / export), *recipe]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([*cmd, "--no-progress"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(recipe) or 'default'} failed: {done.stderr[-600:]}")
    metrics = Run(Path(done.stdout.strip().splitlines()[-1])).metrics()
    return {
        "options": " ".join(recipe) or "(none)",
        "seconds": round(seconds, 1),
        "within_budget": seconds <= BUDGET_S,
        "test_weighted_f1": round(metrics.best.test_weighted_f1, 4),
        "load_1min_before": round(load, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="a warmed catalog with an export")
    p.add_argument("--export", required=True, help="the export's dataset id under datasets/")
    p.add_argument("--work", type=Path, default=Path("/tmp/sleeve-recipe-time"))
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if not (args.data_dir / "catalog.db").is_file():
        print(f"skipped: {args.data_dir}/catalog.db not found")
        return 0
    doc: dict = {
        "question": __doc__.splitlines()[0].removeprefix("Question: "),
        "cpu_cores": os.cpu_count(),
    }
    doc["budget_s"] = BUDGET_S
    for name, recipe in RECIPES.items():
        work = args.work / name
        shutil.rmtree(work, ignore_errors=True)
        doc[name] = first_run(args.data_dir, args.export, work, recipe)
        print(f"{name:<8} {doc[name]['seconds']:>8.1f} s  test wF1 {doc[name]['test_weighted_f1']}")
        shutil.rmtree(work, ignore_errors=True)
    doc["stack_over_lite0"] = round(doc["stack"]["seconds"] / doc["lite0"]["seconds"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
