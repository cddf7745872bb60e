"""Question: on the shared 5-genre covers, does a learned space pull the confused genres apart
(pop from country and rock above all), and what does it do to kNN / SVC test weighted F1?

Three split seeds, each split made by the product (collect --from-folder + build-dataset, as
in train_eval.py). Features: pretrained EfficientNet-Lite0, 224 px (the cached embeddings of
the kNN baseline; an existing cache is copied into --work/data/cache/embeddings first when
SLEEVE_BENCH_EMBED_CACHE names one). Spaces:

- raw: the features as they are (the baseline's space)
- lda: LDA on train (eigen solver, Ledoit-Wolf shrinkage), 4 dimensions
- supcon: the product's metric-learning head (MLP 1280 -> 256 -> 64, supervised contrastive
  loss, negatives weighted by the train out-of-fold kNN confusion of their genre pair)
- supcon-unweighted: the same loss with every pair weighted alike (is the weighting the point?)

In each space kNN and SVC are fitted with the product's own fitters (settings chosen on val),
then scored once on test; the pair separation (silhouette and kNN mix, separation.py) is
measured on the test covers. "Most confused pairs" are chosen on val (raw kNN confusion),
so test plays no part in what is reported. Writes benchmarks/results/confusable.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from train_eval import COVERS, build_export

RESULTS = Path(__file__).parent / "results" / "confusable.json"
SEEDS = (0, 1, 2)
SPACES = ("raw", "lda", "supcon", "supcon-unweighted")
# today's figures (README, train_eval*.json): Lite0 kNN and the Lite0+Lite1 stack + --style SVC
BASELINE = {"knn": [0.422, 0.370, 0.347], "stack_svc": [0.473, 0.448, 0.421]}


def val_confused_pairs(y: np.ndarray, pred: np.ndarray, genres: list[str], n: int = 3):
    """The n genre pairs with the largest symmetric confusion rate on val."""
    k = len(genres)
    cm = np.zeros((k, k))
    np.add.at(cm, (y, pred), 1)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    pairs = [((rates[a, b] + rates[b, a]) / 2, a, b) for a in range(k) for b in range(a + 1, k)]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return [[genres[a], genres[b]] for _, a, b in pairs[:n]]


def one_seed(seed: int, work: Path, progress: bool) -> dict:
    import torch

    from sleeve.core.vision.backbones import load_backbone
    from sleeve.core.vision.embeddings import FeatureRecipe, cached_embeddings
    from sleeve.inference.heads_runtime import head_probabilities, project
    from sleeve.training.analyze.separation import find_pair, pair_separation
    from sleeve.training.config import seed_everything
    from sleeve.training.data import load_export
    from sleeve.training.evaluation.metrics import classification_metrics
    from sleeve.training.fit.methods.embedding import split_arrays
    from sleeve.training.fit.methods.heads import fit_svc
    from sleeve.training.fit.methods.knn import fit_knn
    from sleeve.training.fit.projection import fit_lda, fit_supcon

    seed_everything(seed)
    export_dir, _ = build_export(work / f"seed{seed}", seed)
    export = load_export(export_dir)
    device = torch.device("cpu")
    backbone = load_backbone("efficientnet_lite0", "auto", device)
    t0 = time.perf_counter()
    feats = cached_embeddings(
        export.samples,
        backbone,
        FeatureRecipe(224),
        device,
        work / "data" / "cache" / "embeddings",
        progress=progress,
    )
    embed_s = time.perf_counter() - t0
    x, y = split_arrays(export, feats)
    g = export.genres
    spaces = {"raw": None}
    fit_s = {}
    for name in SPACES[1:]:
        t0 = time.perf_counter()
        if name == "lda":
            spaces[name] = fit_lda(x["train"], y["train"])
        else:
            strength = 0.0 if name.endswith("unweighted") else 1.0
            spaces[name] = fit_supcon(
                x["train"], y["train"], x["val"], y["val"], g, seed=seed, strength=strength
            )
        fit_s[name] = round(time.perf_counter() - t0, 1)
    out: dict = {"seed": seed, "dataset_id": export.dataset_id, "embed_seconds": round(embed_s, 1)}
    out["counts"] = export.counts()
    rows = {}
    for name, proj in spaces.items():
        z = {sp: (x[sp] if proj is None else project(proj, x[sp])) for sp in x}
        row: dict = {"fit_seconds": fit_s.get(name, 0.0)}
        for head in ("knn", "svc"):
            t0 = time.perf_counter()
            if head == "knn":
                fitted = fit_knn(z["train"], y["train"], z["val"], y["val"], g)
            else:
                fitted = fit_svc(z["train"], y["train"], z["val"], y["val"], g, seed=seed)
            pred = head_probabilities(fitted.head, z["test"]).argmax(1)
            m = classification_metrics(y["test"], pred, g)
            val = classification_metrics(y["val"], fitted.val_probs.argmax(1), g)
            row[head] = {
                "val_weighted_f1": round(val["weighted_f1"], 4),
                "test_weighted_f1": round(m["weighted_f1"], 4),
                "test_f1_per_genre": {k: round(v["f1"], 4) for k, v in m["per_class"].items()},
                "seconds": round(time.perf_counter() - t0, 1),
            }
            if name == "raw" and head == "knn":
                out["confused_pairs_on_val"] = val_confused_pairs(
                    y["val"], fitted.val_probs.argmax(1), g
                )
        row["separation_test"] = pair_separation(z["test"], y["test"], g)
        rows[name] = row
    out["spaces"] = rows
    watch = out["confused_pairs_on_val"] + [
        p for p in (["country", "pop"], ["pop", "rock"]) if p not in out["confused_pairs_on_val"]
    ]
    out["watched_pairs"] = {
        "/".join(sorted(p)): {name: find_pair(rows[name]["separation_test"], *p) for name in rows}
        for p in watch
    }
    return out


def summarise(per_seed: list[dict]) -> dict:
    def stats(values: list[float]) -> dict:
        return {
            "per_seed": values,
            "mean": round(float(np.mean(values)), 4),
            "spread": round(float(np.std(values)), 4),
        }

    table = {}
    for name in SPACES:
        entry = {}
        for head in ("knn", "svc"):
            entry[f"{head}_test_wf1"] = stats(
                [s["spaces"][name][head]["test_weighted_f1"] for s in per_seed]
            )
            entry[f"{head}_val_wf1"] = stats(
                [s["spaces"][name][head]["val_weighted_f1"] for s in per_seed]
            )
            entry[f"{head}_pop_f1"] = stats(
                [s["spaces"][name][head]["test_f1_per_genre"].get("pop", 0.0) for s in per_seed]
            )
        for pair in ("country/pop", "pop/rock"):
            for metric in ("silhouette", "knn_mix"):
                entry[f"{pair} {metric}"] = stats(
                    [s["watched_pairs"][pair][name][metric] for s in per_seed]
                )
        table[name] = entry
    return table


def print_table(table: dict, per_seed: list[dict]) -> None:
    head = (
        f"{'space':<18} {'kNN test wF1':>15} {'SVC test wF1':>15} {'pop F1 (SVC)':>14} "
        f"{'sil pop/country':>16} {'sil pop/rock':>13}"
    )
    print(head)
    print("-" * len(head))

    def ms(d: dict) -> str:
        return f"{d['mean']:.3f}±{d['spread']:.3f}"

    for name, e in table.items():
        print(
            f"{name:<18} {ms(e['knn_test_wf1']):>15} {ms(e['svc_test_wf1']):>15} "
            f"{ms(e['svc_pop_f1']):>14} {ms(e['country/pop silhouette']):>16} "
            f"{ms(e['pop/rock silhouette']):>13}"
        )
    print(f"today: kNN {BASELINE['knn']}  stack SVC {BASELINE['stack_svc']}")
    for s in per_seed:
        print(f"seed {s['seed']}: most confused pairs on val {s['confused_pairs_on_val']}")
        for pair, by_space in s["watched_pairs"].items():
            sil = "  ".join(f"{n} {v['silhouette']:+.3f}" for n, v in by_space.items())
            print(f"  {pair:<18} silhouette  {sil}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "sleeve-bench-confusable"
    )
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not COVERS.is_dir():
        reason = f"skipped: {COVERS} is absent (set SLEEVE_BENCH_COVERS)"
        print(reason)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"skipped": reason}, indent=2) + "\n")
        return 0
    seed_cache = os.environ.get("SLEEVE_BENCH_EMBED_CACHE")
    target = args.work / "data" / "cache" / "embeddings"
    if seed_cache and not target.exists():
        shutil.copytree(seed_cache, target)  # a copy: another run's cache is never shared
    started = time.perf_counter()
    per_seed = []
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        per_seed.append(one_seed(seed, args.work, not args.no_progress))
        print(f"[seed {seed}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    table = summarise(per_seed)
    print_table(table, per_seed)
    report = {
        "question": "do LDA / weighted supervised-contrastive spaces separate the confused "
        "genres, and what happens to kNN / SVC test weighted F1? (Lite0 224 px features)",
        "covers": str(COVERS),
        "today": BASELINE,
        "summary": table,
        "seeds": per_seed,
        "cpu_cores": len(os.sched_getaffinity(0)),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
