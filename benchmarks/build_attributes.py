"""Question: what does a first build cost with all five attribute groups (build-dataset's default)
instead of the cheap three (colour, texture, structure)?

Faces (MTCNN) and style (Lite0) now run in the build's one pass over the covers
(dataset/per_cover.py). This times the first ``build-dataset --balance --no-text`` of a sample
of the shared covers (every k-th file of the sorted list, used by path: copied only into the
work folder, outside the repository) with ``--attributes colour,texture,structure`` and with
the default, in turn, each from a copy of one imported data folder (``collect --from-folder``:
empty hash, embedding and attribute caches) and with its own empty graph cache (both export the
same Lite0 graph: the visual duplicate stage needs it either way). OCR is off (``--no-text``) so
that the attributes' share is not hidden behind the words.

Records per build: wall seconds, CPU seconds (user + system, the build and its workers), the
per-cover pass's own line, the load averages before and after and the CPU model; the ratio
all/cheap per pair is the figure to quote. Also checks that both builds give the same dataset
id (attributes are no part of it). Writes benchmarks/results/build_attributes.json.
Run: .venv/bin/python benchmarks/build_attributes.py [--covers 400] [--pairs 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from stages import COVERS, sample  # the same sample of the shared covers as the stage figures

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "build_attributes.json"
BIN = Path(sys.executable).parent
CHEAP = "colour,texture,structure"
MAP = "Electronic=electronic,Rock=rock"  # as the shared catalog was imported


def machine() -> dict[str, object]:
    from sleeve.core.vision.runtime import cpu_model

    load = [round(x, 2) for x in os.getloadavg()]
    return {"cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)), "load": load}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its waited-for workers, stdout)."""
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-800:]}")
    return wall, _children_cpu() - cpu, done.stdout


def import_sample(files: list[Path], work: Path) -> Path:
    """A data folder with the sample imported (catalog and stored covers, no caches)."""
    src = work / "src"
    for path in files:
        (src / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, src / path.parent.name / path.name)
    data = work / "imported"
    env = {**os.environ, "SLEEVE_DATA_DIR": str(data), "XDG_CACHE_HOME": str(work / "cache")}
    cmd = [str(BIN / "collect"), "--from-folder", str(src), "--map", MAP, "--no-progress"]
    _run(cmd, env)
    return data


def _dataset_id(data: Path) -> str:
    from sleeve.dataset.export import read_export

    [folder] = [p for p in (data / "datasets").iterdir() if p.is_dir() and p.name[0] != "."]
    return read_export(folder).dataset_id


def build(imported: Path, work: Path, name: str, flags: list[str]) -> dict[str, Any]:
    """One first build from a fresh copy of ``imported`` with a fresh graph cache."""
    data, cache = work / name, work / f"{name}-cache"
    for folder in (data, cache):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(imported, data)
    env = {
        **os.environ,
        "SLEEVE_DATA_DIR": str(data),
        "XDG_CACHE_HOME": str(cache),
        "SLEEVE_BUILD_ATTRIBUTES": "on",  # the default, whatever the caller's environment says
    }
    cmd = [str(BIN / "build-dataset"), "--balance", "--no-text", "--no-progress", *flags]
    before = machine()["load"]
    wall, cpu, out = _run(cmd, env)
    lines = out.splitlines()
    return {
        "flags": flags,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": before,
        "load_after": machine()["load"],
        "per_cover_pass": next((x for x in lines if x.startswith("per-cover pass")), ""),
        "attributes": next((x for x in lines if x.startswith("attributes:")), ""),
        "dataset_id": _dataset_id(data),
    }


def render(doc: dict) -> str:
    m = doc["machine_before"]
    lines = [
        f"{m['cpu']}, {m['cores']} cores, load {m['load']} -> {doc['machine_after']['load']}; "
        f"first build of {doc['covers']} shared covers, --balance --no-text",
        f"{'pair':<5} {'cheap s':>8} {'all five s':>11} {'ratio':>6} {'cheap CPU s':>12} "
        f"{'five CPU s':>11}",
    ]
    for i, p in enumerate(doc["pairs"], 1):
        c, a = p["cheap"], p["all"]
        lines.append(
            f"{i:<5} {c['wall_s']:>8} {a['wall_s']:>11} {p['ratio']:>6} {c['cpu_s']:>12} "
            f"{a['cpu_s']:>11}"
        )
    lines.append(
        f"median all/cheap: wall {doc['ratio_median']}x, CPU {doc['cpu_ratio_median']}x; "
        f"same dataset id: {doc['same_id']}"
    )
    for p in doc["pairs"][:1]:
        lines.append(f"  cheap: {p['cheap']['per_cover_pass']}")
        lines.append(f"  all:   {p['all']['per_cover_pass']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--covers", type=int, default=400)
    parser.add_argument("--pairs", type=int, default=1, help="cheap/all builds in turn")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not COVERS.is_dir():
        print(f"skipped: the shared covers are not at {COVERS}")
        return 0
    with tempfile.TemporaryDirectory(prefix="build-attributes-", dir=args.work) as tmp:
        work = Path(tmp)
        files = sample(args.covers)
        doc: dict = {"covers": len(files), "machine_before": machine(), "pairs": []}
        imported = import_sample(files, work)
        for i in range(args.pairs):
            # in turn, the order swapped every pair: a load that rises during a pair does not
            # always fall on the same side
            sides = [("cheap", ["--attributes", CHEAP]), ("all", [])]
            order = sides if i % 2 == 0 else sides[::-1]
            runs = {name: build(imported, work, name, flags) for name, flags in order}
            cheap, five = runs["cheap"], runs["all"]
            doc["pairs"].append(
                {
                    "cheap": cheap,
                    "all": five,
                    "ratio": round(five["wall_s"] / cheap["wall_s"], 2),
                    "cpu_ratio": round(five["cpu_s"] / cheap["cpu_s"], 2),
                }
            )
            print(f"pair {i + 1}: cheap {cheap['wall_s']} s, all {five['wall_s']} s", flush=True)
    doc["machine_after"] = machine()
    doc["pair_count"] = len(doc["pairs"])
    doc["ratio_median"] = round(statistics.median(p["ratio"] for p in doc["pairs"]), 2)
    doc["cpu_ratio_median"] = round(statistics.median(p["cpu_ratio"] for p in doc["pairs"]), 2)
    doc["cheap_cpu_s"] = statistics.median(p["cheap"]["cpu_s"] for p in doc["pairs"])
    doc["all_cpu_s"] = statistics.median(p["all"]["cpu_s"] for p in doc["pairs"])
    doc["same_id"] = all(p["cheap"]["dataset_id"] == p["all"]["dataset_id"] for p in doc["pairs"])
    doc["all_wall_s"] = statistics.median(p["all"]["wall_s"] for p in doc["pairs"])
    doc["cheap_wall_s"] = statistics.median(p["cheap"]["wall_s"] for p in doc["pairs"])
    print(render(doc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
