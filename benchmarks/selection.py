"""Question: which rung should a run ship, the best on validation or the best by grouped
cross-validation on train+val? Test weighted F1 of each choice over three split seeds.

On the shared covers' exports for split seeds 0/1/2 (build-dataset --balance, as cached by
benchmarks/text.py under $SLEEVE_BENCH_CACHE), ``train-and-evaluate --method
knn,logreg,svc,rf`` (Lite0 224 px, embeddings from a copied cache) runs once per seed with the
selection threshold raised above the val size, so the run compares both rules on the same
fitted rungs: ``model_selection.val_choice`` (best val weighted F1, the rule above the
threshold) and ``model_selection.chosen`` (best mean weighted F1 over grouped stratified 5-fold
CV on train+val, the rule below it). Test is read once per rung; neither rule sees it. Only
rungs that can be refitted per fold are compared (training/grouped_cv.REFITTABLE).

The full val (~480 covers) is above the product's threshold (300). To see the regime the CV rule
is for, ``small_val`` replays the val rule on random subsets of 40 / 100 / 300 val covers (200
draws each) from the run's predictions.csv: the rung with the best weighted F1 on the subset
is "chosen", and its test score counted. The rungs stay as fitted (their own settings were
picked on the full val), and the CV choice is the run's, on the full train+val: a replay of
the selection noise, not of a smaller dataset.

Writes benchmarks/results/selection.json; skips (exit 0) when the cached exports are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sleeve.inference.rundir import Run

# benchmarks/text.py's work dir (its --work default): catalog, exports, embedding cache
_TEXT_WORK = Path(tempfile.gettempdir()) / "sleeve-text-bench"
CACHE = Path(os.environ.get("SLEEVE_BENCH_CACHE", _TEXT_WORK))
LITE0 = "efficientnet_lite0-pretrained-efficientnet-lite0-57934424.pth-224px"
RESULTS = Path(__file__).parent / "results" / "selection.json"
RUNGS = ("knn", "logreg", "svc", "rf")


def one_seed(seed: int, work: Path) -> dict:
    from sleeve.training.run import TrainConfig, train_and_evaluate

    config = TrainConfig(
        methods=RUNGS,
        seed=seed,
        device="cpu",
        label_issues=False,
        select_min_val=10**9,  # always run the CV comparison; val's choice is recorded beside
        progress=False,
    )
    t0 = time.perf_counter()
    result = train_and_evaluate(
        CACHE / f"export-{seed}", work / "runs" / f"seed{seed}", config, data_dir=work / "data"
    )
    return describe(result.run_dir, seed, round(time.perf_counter() - t0, 1))


def describe(run: Path, seed: int, seconds: float | None) -> dict:
    """The two rules' choices and their test scores, from a finished run directory."""
    m = Run(run).metrics()
    sel = m.model_selection or {}
    test = {k: round(v.test["weighted_f1"], 4) for k, v in m.methods.items()}
    val = {k: round(v.val["weighted_f1"], 4) for k, v in m.methods.items()}
    cv = {k: v["estimate"] for k, v in sel["per_method"].items()}
    return {
        "seed": seed,
        "val_covers": sel["val_covers"],
        "counts": {sp: sum(c.values()) for sp, c in m.counts.items()},
        "val_weighted_f1": val,
        "cv_weighted_f1": cv,
        "test_weighted_f1": test,
        "by_val": {"rung": sel["val_choice"], "test": test[sel["val_choice"]]},
        "by_cv": {"rung": sel["chosen"], "test": test[sel["chosen"]]},
        "best_on_test": max(test, key=test.get),  # type: ignore[arg-type]  # hindsight only
        "small_val": small_val(run, test, seed),
        "seconds": seconds,
    }


SMALL_VAL = (40, 100, 300)
DRAWS = 200


def small_val(run: Path, test: dict[str, float], seed: int) -> dict:
    """The val rule on random val subsets (module doc): mean test wF1 of its choice, and how
    often each rung is chosen."""

    import numpy as np
    from sklearn.metrics import f1_score

    rows = [r for r in Run(run).predictions() if r["split"] == "val"]
    y = np.array([r["true_genre"] for r in rows])
    pred = {m: np.array([r[f"{m}.predicted"] for r in rows]) for m in RUNGS}
    rng = np.random.default_rng(seed)
    out = {}
    for n in SMALL_VAL:
        picks = []
        for _ in range(DRAWS):
            i = rng.choice(len(y), size=min(n, len(y)), replace=False)
            scores = {
                m: f1_score(y[i], pred[m][i], average="weighted", zero_division=0) for m in RUNGS
            }
            picks.append(max(RUNGS, key=lambda m: scores[m]))  # ties: the earlier rung
        chosen_test = [test[m] for m in picks]
        out[str(n)] = {
            "mean_test_of_choice": round(float(np.mean(chosen_test)), 4),
            "std_test_of_choice": round(float(np.std(chosen_test)), 4),
            "chosen": {m: picks.count(m) for m in RUNGS if picks.count(m)},
        }
    return out


def summary(per_seed: list[dict]) -> dict:
    out: dict = {}
    for rule in ("by_val", "by_cv"):
        scores = [r[rule]["test"] for r in per_seed]
        out[rule] = {
            "mean": round(statistics.mean(scores), 4),
            "spread": round(max(scores) - min(scores), 4),
            "rungs": [r[rule]["rung"] for r in per_seed],
        }
    out["small_val"] = {
        n: round(statistics.mean(r["small_val"][n]["mean_test_of_choice"] for r in per_seed), 4)
        for n in map(str, SMALL_VAL)
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "sleeve-selection-bench"
    )
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument(
        "--replay", action="store_true", help="re-read the runs already in --work (no training)"
    )
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not all((CACHE / f"export-{s}").is_dir() for s in seeds):
        print(f"skipped: the exports {CACHE}/export-<seed> are absent (run benchmarks/text.py)")
        return 0
    emb = args.work / "data" / "cache" / "embeddings" / LITE0
    if not emb.is_dir():  # a private copy: the shared cache stays read-only
        emb.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(CACHE / "data" / "cache" / "embeddings" / LITE0, emb)
    from sleeve.training.evaluation.selection import VAL_MIN_COVERS

    per_seed = []
    for seed in seeds:
        if args.replay:
            per_seed.append(describe(args.work / "runs" / f"seed{seed}", seed, None))
        else:
            per_seed.append(one_seed(seed, args.work))
        print(f"[seed {seed}] {per_seed[-1]}", file=sys.stderr, flush=True)
    report = {
        "question": "test weighted F1 of the rung chosen on val vs by grouped 5-fold CV on "
        "train+val, three split seeds of the shared covers",
        "rungs": list(RUNGS),
        "features": "efficientnet_lite0, 224 px (cached)",
        "product_threshold_val_covers": VAL_MIN_COVERS,
        "seeds": per_seed,
        "summary": summary(per_seed),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'seed':<5} {'val covers':>10} {'by val':>16} {'by CV':>16} {'best on test':>13}")
    for r in per_seed:
        print(
            f"{r['seed']:<5} {r['val_covers']:>10} "
            f"{r['by_val']['rung'] + ' ' + format(r['by_val']['test'], '.3f'):>16} "
            f"{r['by_cv']['rung'] + ' ' + format(r['by_cv']['test'], '.3f'):>16} "
            f"{r['best_on_test']:>13}"
        )
    s = report["summary"]
    print(
        f"mean (spread): by val {s['by_val']['mean']:.3f} ({s['by_val']['spread']:.3f}), "
        f"by CV {s['by_cv']['mean']:.3f} ({s['by_cv']['spread']:.3f})"
    )
    print(
        "val rule on random val subsets, mean test wF1 of its choice: "
        + ", ".join(f"{n} covers {v:.3f}" for n, v in s["small_val"].items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
