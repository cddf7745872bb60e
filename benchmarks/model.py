"""Question: does the default recipe (Lite0 SVC + words, ``fused``) hold on covers it has never
seen, and do words help only where they speak? (issue 24)

Everything goes through the product's commands, as a user runs them, per split seed N:
``build-dataset --balance --seed N`` then plain ``train-and-evaluate --seed N`` (the default
recipe), on a copy of the shared covers' catalog (OCR words and hashes cached there). From each
run it reads metrics.json, probabilities.npz, model.pt and the export's side tables, and reports

- test weighted F1 of the image rung (svc), the shipped default (fused, words only where the
  text model has something) and the same run's words fused by the previous rule (one text
  weight for every cover, chosen on all of val: the baseline, measured in the same run), overall
  and on the no-words / words-no-artist / recognised-artist test subsets;
- the headline (grouped by manifest group, artist key and look-alike artwork), its fold range,
  whether the test split falls inside it, and the test figure on covers whose artist train lacks;
- the review queue's size; the coverage vs weighted F1 points; the default recipe's time.

``--by-eye N/M``: a person's (or agent's) count of plainly wrong labels among the top M suspects
of the first seed's queue, recorded as given (it cannot be measured by a script).

Writes benchmarks/results/model.json; skips (exit 0) when --data-dir has no catalog.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sleeve.dataset.export import DatasetExport, read_export
from sleeve.dataset.text.artist_stage import ARTIST_TABLE, load_table
from sleeve.dataset.text.ocr import words_text
from sleeve.inference.rundir import Run
from sleeve.inference.text_head import TextHead, choose_weight, fuse, weighted_f1

RESULTS = Path(__file__).parent / "results" / "model.json"
SUBSETS = ("all", "no_words", "words_no_artist", "recognised_artist")
RULES = ("image", "default", "baseline")


def _cli(name: str, data_dir: Path, *argv: str) -> str:
    env = {**os.environ, "SLEEVE_DATA_DIR": str(data_dir)}
    exe = Path(sys.executable).parent / name
    done = subprocess.run(
        [str(exe), *argv, "--no-progress"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"{name} {' '.join(argv)} failed ({done.returncode}): {done.stderr[-800:]}"
        )
    return done.stdout


def subsets(run: Run, export: DatasetExport, shas: list[str]) -> dict[str, np.ndarray]:
    """Masks over the test covers: no words the text model knows / words but no artist /
    an artist recognised (artists.csv: credited, or named by the words)."""

    table = export.word_table or {}
    texts = [words_text(table.get(s, [])) for s in shas]
    head = TextHead.from_dict(torch.load(run.model_path, weights_only=True)["text"]["head"])
    speaks = head.speaks(texts)
    artists = load_table(export.side_file(ARTIST_TABLE))
    named = np.array([bool(artists.get(s) and artists[s].key) for s in shas])
    return {
        "all": np.ones(len(shas), dtype=bool),
        "no_words": ~speaks,
        "words_no_artist": speaks & ~named,
        "recognised_artist": speaks & named,
    }


def seed_figures(data_dir: Path, seed: int, recipe: list[str]) -> dict:

    built = _cli("build-dataset", data_dir, "--balance", "--seed", str(seed))
    export_dir = Path(built.strip().splitlines()[-1])  # build-dataset's last line
    start = time.perf_counter()
    out = _cli(
        "train-and-evaluate", data_dir, "--seed", str(seed), "--dataset", str(export_dir), *recipe
    )
    seconds = time.perf_counter() - start
    return run_figures(Path(out.strip().splitlines()[-1]), export_dir, seed, seconds)


def finished_run(data_dir: Path, run_dir: Path) -> dict:
    """The figures of a run already made (its export found by the run's dataset id)."""
    metrics = Run(run_dir).metrics()
    export_dir = data_dir / "datasets" / metrics.dataset_id
    return run_figures(run_dir, export_dir, metrics.seed, metrics.total_seconds)


def run_figures(run_dir: Path, export_dir: Path, seed: int, seconds: float) -> dict:
    """The figures of one finished run (``seconds``: its train-and-evaluate wall time)."""
    run = Run(run_dir)
    run_dir = run.root
    metrics = run.metrics()
    arrays = np.load(run.probabilities_path)
    genres = list(arrays["genres"])
    shas = list(arrays["sha256_test"])
    label = {g: i for i, g in enumerate(genres)}
    export = read_export(export_dir)
    rows = {r.sha256: r.genre for r in export.rows}
    y_test = np.array([label[rows[s]] for s in shas])
    y_val = np.array([label[rows[s]] for s in arrays["sha256_val"]])
    # the previous rule, same run: one text weight for every cover, chosen on all of val
    w_old, _ = choose_weight(arrays["svc_val"], arrays["text_val"], y_val)
    probs = {
        "image": arrays["svc_test"],
        "default": arrays[f"{metrics.best.method}_test"],
        "baseline": fuse(arrays["svc_test"], arrays["text_test"], w_old),
    }
    masks = subsets(run, export, shas)
    scores = {
        rule: {
            k: round(weighted_f1(y_test[m], p[m]), 4) if m.any() else None for k, m in masks.items()
        }
        for rule, p in probs.items()
    }
    h = metrics.headline or {}
    fused = metrics.methods.get("fused")
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "shipped": metrics.best.method,
        "train_seconds": round(seconds, 1),
        "covers": {k: int(m.sum()) for k, m in masks.items()},
        "test_weighted_f1": scores,
        # what a choice between recipes may look at: the image rung's and the shipped rung's
        # val weighted F1 (test and the headline only report)
        "val_weighted_f1": {
            "image": round(metrics.methods["svc"].val["weighted_f1"], 4),
            "default": round(metrics.best.val_weighted_f1, 4),
        },
        "text_weights": fused.params.get("text_weights") if fused else None,
        "baseline_text_weight": w_old,
        "headline": {
            k: h.get(k)
            for k in (
                "estimate",
                "interval",
                "test_split_score",
                "test_split_inside_range",
                "test_new_artist_score",
                "test_new_artist_covers",
                "grouping",
            )
        },
        "review_queue": (metrics.extra or {}).get("label_issues"),
        "artist_table": metrics.artist_table.to_dict() if metrics.artist_table else None,
        "coverage": (metrics.confidence or {}).get("points"),
    }


def _spread(values: list[float]) -> dict:
    return {
        "mean": round(statistics.fmean(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }


def summarise(seeds: list[dict]) -> dict:
    out: dict = {"test_weighted_f1": {}}
    for rule in RULES:
        out["test_weighted_f1"][rule] = {
            k: _spread([s["test_weighted_f1"][rule][k] for s in seeds])
            for k in SUBSETS
            if all(s["test_weighted_f1"][rule][k] is not None for s in seeds)
        }
    if all("val_weighted_f1" in s for s in seeds):
        out["val_weighted_f1"] = {
            rule: _spread([s["val_weighted_f1"][rule] for s in seeds])
            for rule in ("image", "default")
        }
    d = [s["test_weighted_f1"]["default"]["all"] for s in seeds]
    b = [s["test_weighted_f1"]["baseline"]["all"] for s in seeds]
    out["default_minus_baseline"] = _spread([x - y for x, y in zip(d, b, strict=True)])
    no_words = [
        s["test_weighted_f1"]["default"]["no_words"] - s["test_weighted_f1"]["image"]["no_words"]
        for s in seeds
        if s["test_weighted_f1"]["default"]["no_words"] is not None
    ]
    out["no_words_default_minus_image"] = _spread(no_words) if no_words else None
    heads = [s["headline"] for s in seeds if s["headline"].get("estimate") is not None]
    if heads:
        out["headline"] = _spread([h["estimate"] for h in heads])
        out["test_inside_fold_range"] = f"{sum(bool(h['test_split_inside_range']) for h in heads)}"
        out["test_inside_fold_range"] += f"/{len(heads)}"
        new = [h["test_new_artist_score"] for h in heads if h.get("test_new_artist_score")]
        out["test_new_artist"] = _spread(new) if new else None
    queues = [s["review_queue"] for s in seeds if s["review_queue"]]
    if queues:
        out["review_queue_share"] = _spread([q["flagged"] / q["covers_scored"] for q in queues])
    tables = [s["artist_table"] for s in seeds if s.get("artist_table")]
    if len(tables) == len(seeds):
        out["artist_table"] = {
            k: _spread([t[k] for t in tables])
            for k in tables[0]
            if all(isinstance(t.get(k), int | float) and t.get(k) is not None for t in tables)
        }
    out["train_seconds"] = _spread([s["train_seconds"] for s in seeds])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="a copy of the warmed catalog")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--by-eye", help="N/M plainly wrong labels among the top M suspects (seed 0)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--recipe",
        default="",
        help="extra train-and-evaluate options for a candidate recipe, e.g. "
        "'--backbone efficientnet_lite0+efficientnet_lite1 --flip-tta --style --method "
        "svc,text,fused' (default: none, the default recipe)",
    )
    p.add_argument(
        "--from-runs",
        type=Path,
        nargs="+",
        help="re-score finished run dirs (under --data-dir/runs) instead of training; the "
        "time recorded is each run's total_seconds",
    )
    args = p.parse_args(argv)
    if not (args.data_dir / "catalog.db").is_file():
        print(f"skipped: {args.data_dir}/catalog.db not found (copy the warmed catalog first)")
        return 0
    if args.from_runs:
        seeds = [finished_run(args.data_dir, r) for r in args.from_runs]
    else:
        seeds = [seed_figures(args.data_dir, s, args.recipe.split()) for s in args.seeds]
    report = {
        "question": "issue 24: the default recipe on covers it has never seen",
        "recipe": args.recipe or "default (train-and-evaluate with no options)",
        "machine": f"{os.cpu_count()} CPU cores (shared with other jobs while measured)",
        "seeds": seeds,
        "summary": summarise(seeds),
        "by_eye_top_suspects": args.by_eye,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    print(f"{'rule':<10}" + "".join(f"{k:>20}" for k in SUBSETS))
    for rule in RULES:
        row = report["summary"]["test_weighted_f1"][rule]
        cells = [
            f"{row[k]['mean']:.3f} ({row[k]['min']:.3f}-{row[k]['max']:.3f})" if k in row else "-"
            for k in SUBSETS
        ]
        print(f"{rule:<10}" + "".join(f"{c:>20}" for c in cells))
    s = report["summary"]
    print(f"default - baseline (same runs): {s['default_minus_baseline']}")
    if s.get("headline"):
        print(f"headline {s['headline']}; test inside fold range {s['test_inside_fold_range']}")
    print(f"train seconds {s['train_seconds']}")


if __name__ == "__main__":
    raise SystemExit(main())
