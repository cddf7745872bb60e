"""Question: did the single-machine commands get slower when the engine seam, Ray, the ONNX path
and the per-cover pass came in? (issue 26: "the single-machine commands, the demo and their
speed are unchanged (measured before/after)")

Times whole commands, as a user runs them, with an older checkout's console scripts (``--old
BIN_DIR``, e.g. a worktree of the commit before those changes) and this checkout's, in turn
(old, new, old, new ...), each in a fresh data folder and a fresh graph cache (a first-time
user's cost, the ONNX export included):

* ``sleeve demo`` with its defaults (the README's offline demo: harvest from the loopback
  stand-ins, build-dataset, train-and-evaluate).

The first build of the shared covers, old and new code side by side, is
``benchmarks/stages.py --full-build`` (benchmarks/results/stages_build.json).

Prints a table and writes benchmarks/results/single_machine.json (wall seconds per run, the
new/old ratio per pair and its median, the load averages before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "single_machine.json"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-600:]}")
    return time.perf_counter() - start


def demo(bin_dir: Path, work: Path) -> float:
    env = {**os.environ, "SLEEVE_DATA_DIR": str(work / "data"), "XDG_CACHE_HOME": str(work)}
    return _run([str(bin_dir / "sleeve"), "demo", "--no-progress"], env)


def pairs(name: str, fn: Callable[[Path, Path], float], old: Path, new: Path, n: int) -> dict:
    runs: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(n):
        for side, bin_dir in (("old", old), ("new", new)):
            with tempfile.TemporaryDirectory(prefix=f"sm-{name}-{side}-") as tmp:
                runs[side].append(round(fn(bin_dir, Path(tmp)), 1))
            print(f"  {name} pair {i + 1} {side}: {runs[side][-1]} s", file=sys.stderr)
    ratios = [b / a for a, b in zip(runs["old"], runs["new"], strict=True)]
    return {
        "wall_s": runs,
        "ratio_new_over_old": [round(r, 3) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", type=Path, required=True, help="the older checkout's .venv/bin")
    p.add_argument("--old-commit", default="", help="recorded beside the figures")
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    new = Path(sys.executable).parent
    doc: dict = {
        "question": "issue 26: single-machine commands before/after the scale work",
        "old_commit": args.old_commit,
        "cpu_cores": os.cpu_count(),
        "load_before": _load(),
    }
    doc["demo"] = pairs("demo", demo, args.old, new, args.pairs)
    doc["load_after"] = _load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'command':<10}{'old s (median)':>16}{'new s (median)':>16}{'new/old':>10}")
    for key in ("demo",):
        row = doc.get(key)
        if isinstance(row, dict):
            old_s = statistics.median(row["wall_s"]["old"])
            new_s = statistics.median(row["wall_s"]["new"])
            print(f"{key:<10}{old_s:>16.1f}{new_s:>16.1f}{row['ratio_median']:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
