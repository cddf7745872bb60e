"""What does a hostile image shape cost `predict` and the OCR job, in peak memory?

Question: a PNG of a few hundred bytes can declare a 20000x1 or 49,000,000x1 strip, or a
780000x64 picture within the pixel cap (issue 21: 6.2 GB, MemoryError, OverflowError and a
rapidocr crash before the shape rule). How much more memory than a normal cover does each
cost now, and what does each answer?

Each case runs in its own child process under a fresh parent that reads the child's peak
resident size (``getrusage(RUSAGE_CHILDREN).ru_maxrss``); the baseline is the same command
on one normal drawn cover, measured in the same run, so figures are ratios to it.

    .venv/bin/python benchmarks/hostile_shapes.py [--model RUN_DIR]

Prints a table and writes benchmarks/results/hostile_shapes.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from predict import find_run  # benchmarks/predict.py: --model, LATEST or a tiny run

from sleeve.fakes.covers import cover_jpeg
from sleeve.fakes.faults import bomb_png

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "hostile_shapes.json"
SHAPES = [(20000, 1), (100000, 1), (49_000_000, 1), (780000, 64)]

_PEAK = """
import json, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024  # KiB -> MiB
lines = out.stdout.strip().splitlines()  # predict: a header, then the input's row
print(json.dumps({"exit": out.returncode, "peak_mib": peak, "answer": lines[-1] if lines else ""}))
"""
_OCR_JOB = (
    "import sys; from sleeve.dataset.text.ocr import _read_job; print(_read_job(sys.argv[1]))"
)


def peak(argv: list[str]) -> dict[str, Any]:
    """Exit code, peak resident MiB and last output line of ``argv`` run in a child."""
    out = subprocess.run([sys.executable, "-c", _PEAK, *argv], capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run, run_source = find_run(args.model, work)
        files = {"normal cover (baseline)": work / "cover.jpg"}
        files["normal cover (baseline)"].write_bytes(cover_jpeg("jazz", 1, 500))
        for w, h in SHAPES:
            files[f"{w}x{h} PNG"] = work / f"strip-{w}x{h}.png"
            files[f"{w}x{h} PNG"].write_bytes(bomb_png(width=w, height=h))
        predict = [sys.executable, "-m", "sleeve.ui.cli", "predict", "--model", str(run)]
        rows: list[dict[str, Any]] = []
        for name, path in files.items():
            rows.append(
                {
                    "input": name,
                    "bytes": path.stat().st_size,
                    "predict": peak([*predict, str(path), "--no-progress"]),
                    "ocr_job": peak([sys.executable, "-c", _OCR_JOB, str(path)]),
                }
            )
    base = rows[0]
    for row in rows:
        for job in ("predict", "ocr_job"):
            row[job]["ratio_to_baseline"] = round(row[job]["peak_mib"] / base[job]["peak_mib"], 3)
    result = {
        "question": "peak memory of predict and the OCR job on hostile image shapes",
        "model": run_source,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{'input':<26}{'bytes':>8} {'predict MiB':>12} {'x base':>7} {'OCR MiB':>8} {'x base':>7}"
    )
    for row in rows:
        p, o = row["predict"], row["ocr_job"]
        print(
            f"{row['input']:<26}{row['bytes']:>8} {p['peak_mib']:>12} {p['ratio_to_baseline']:>7}"
            f" {o['peak_mib']:>8} {o['ratio_to_baseline']:>7}"
        )
        print(f"{'':<26}predict: {p['answer'][-70:]}  OCR: {o['answer'][-40:]}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
