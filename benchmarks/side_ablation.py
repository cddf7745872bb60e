"""Ablation of early fusion (issue 13 step 4, issue 17's early fusion) over three split seeds.

Question: do the cover attributes (colour, texture, structure, faces) and the OCR words help
when concatenated (standardised, weighted) with the image embedding, and does the combined
rung beat the default recipe's chosen rung on validation on average over three seeds?

Reuses benchmarks/text.py's work dir (catalog with the OCR cache, exports export-0..2 with
text.jsonl, the embedding cache). Each export gets its attributes.csv from the catalog's
attribute cache (``sleeve attributes`` run on that catalog first: SLEEVE_DATA_DIR=<work>/catalog
sleeve attributes), written as build-dataset writes it. Then one train-and-evaluate per seed
with the image rung (Lite0 SVC, the default recipe's), text and fused (late fusion, the
default recipe), attributes alone, image + each attribute group, image + all attributes, text
early-fused, and text + attributes early-fused. ``--image stack`` uses the Lite0+Lite1 stack
(240 px, flip-TTA, --style) instead.

The run's headline (grouped 5-fold CV of the chosen head, refitted five times) is switched off:
it costs minutes per seed on 2 cores and this ablation reads val and test only.

Run: .venv/bin/python benchmarks/side_ablation.py --work /tmp/sleeve-text-bench [--seeds 0,1,2]
Writes benchmarks/results/side_ablation[-stack].json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "side_ablation.json"
IMAGE = {
    "lite0": dict(backbone="efficientnet_lite0", image_size=224),
    "stack": dict(
        backbone="efficientnet_lite0+efficientnet_lite1", image_size=240, flip_tta=True, style=True
    ),
}
GROUPS = ("colour", "texture", "structure", "faces")
RUNGS = (
    "svc",
    "attrs",
    *(f"svc+attrs:{g}" for g in GROUPS),
    "svc+attrs",
    "text",
    "fused",
    "text-early",
    "svc+text-early",
    "svc+text-early+attrs",
)
DEFAULT_RUNGS = ("svc", "text", "fused")  # recipes.BEST: its chosen rung is the best of these


def attach_attributes(catalog_dir: Path, export: Path) -> dict:
    """Write the export's attributes.csv (and the card's entry) from the catalog's cache."""
    from sleeve.core.catalog.db import open_catalog
    from sleeve.dataset.attributes import store
    from sleeve.dataset.attributes.compute import AttributeReport
    from sleeve.dataset.attributes.export import build_export_attributes
    from sleeve.dataset.attributes.registry import EXTRACTORS
    from sleeve.dataset.export import ATTRIBUTES_TABLE, add_side_table, read_export

    catalog = open_catalog(f"sqlite:///{(catalog_dir / 'catalog.db').resolve()}")
    dataset = read_export(export)
    genre_of = {r.sha256: r.genre for r in dataset.rows}
    extractors, attrs, report = [], {}, AttributeReport()
    for name in ("colour", "texture", "structure", "faces-mtcnn"):
        have = store.cached(catalog, EXTRACTORS[name])
        found = {sha: have[sha] for sha in genre_of if sha in have}
        if not found:
            continue
        extractors.append(EXTRACTORS[name])
        report.cached[name] = len(found)
        for sha, values in found.items():
            attrs.setdefault(sha, {})[name] = values
    catalog.dispose()
    built = build_export_attributes(genre_of, attrs, extractors, report)
    add_side_table(dataset, ATTRIBUTES_TABLE, built.csv_bytes, attributes=built.card)
    return {"covers": len(genre_of), "measured": dict(report.cached)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sleeve-text-bench")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--image", choices=sorted(IMAGE), default="lite0")
    ap.add_argument("--rungs", default=",".join(RUNGS), help="comma list (default: all)")
    args = ap.parse_args(argv)
    exports = {int(s): args.work / f"export-{s}" for s in args.seeds.split(",") if s.strip()}
    if not all(e.is_dir() for e in exports.values()):
        print(f"skipped: run benchmarks/text.py --work {args.work} first (exports missing)")
        return 0
    import sleeve.training.evaluation.headline as headline
    from sleeve.training.run import TrainConfig, train_and_evaluate

    headline.compute_headline = lambda *a, **k: None  # see the module docstring
    results = RESULTS.with_name(
        "side_ablation.json" if args.image == "lite0" else f"side_ablation-{args.image}.json"
    )
    rungs = tuple(r.strip() for r in args.rungs.split(",") if r.strip())
    started = time.perf_counter()
    per_seed = []
    for seed, export in exports.items():
        attached = attach_attributes(args.work / "catalog", export)
        config = TrainConfig(
            methods=rungs, seed=seed, device="cpu", progress=False, label_issues=False,
            **IMAGE[args.image],
        )  # fmt: skip
        t0 = time.perf_counter()
        result = train_and_evaluate(
            export, args.work / "runs" / f"side-{args.image}-seed{seed}", config,
            data_dir=args.work / "data",
        )  # fmt: skip
        methods = result.metrics.methods
        per_seed.append(
            {
                "seed": seed,
                "attributes": attached,
                "seconds": round(time.perf_counter() - t0, 1),
                "best_on_val": result.best_method,
                **{
                    r: {
                        "val": round(methods[r].val["weighted_f1"], 4),
                        "test": round(methods[r].test["weighted_f1"], 4),
                        **{
                            k: methods[r].params[k]
                            for k in ("side_weight", "C", "text_weight")
                            if k in methods[r].params
                        },
                    }
                    for r in rungs
                    if r in methods
                },
            }
        )
        print(f"[seed {seed}] {per_seed[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
        report = summarise(per_seed, rungs, args.image, started)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def summarise(per_seed: list[dict], rungs: tuple[str, ...], image: str, started: float) -> dict:
    summary = {}
    for r in rungs:
        rows = [s[r] for s in per_seed if r in s]
        if not rows:
            continue
        summary[r] = {
            sp: {
                "mean": round(statistics.mean(x[sp] for x in rows), 4),
                "spread": round(max(x[sp] for x in rows) - min(x[sp] for x in rows), 4),
            }
            for sp in ("val", "test")
        }
    # the default recipe ships its best-on-val rung per seed; the combined rung must beat that
    default_val = [max(s[r]["val"] for r in DEFAULT_RUNGS if r in s) for s in per_seed]
    combined = [s["svc+text-early+attrs"]["val"] for s in per_seed if "svc+text-early+attrs" in s]
    verdict = None
    if combined and len(combined) == len(default_val):
        verdict = statistics.mean(combined) > statistics.mean(default_val)
    return {
        "question": "early fusion of attributes / OCR words with the image embedding: does it "
        "help, and does the combined rung beat the default recipe's chosen rung on val?",
        "image": {"method": "svc", **IMAGE[image]},
        "side": "attributes.csv numeric columns and char n-gram TF-IDF of the OCR words "
        "(truncated SVD, 64 dims), each block standardised on train and weighted (side weight "
        "and C chosen on val); SVC head",
        "seeds": per_seed,
        "summary": summary,
        "default_chosen_val_mean": round(statistics.mean(default_val), 4) if default_val else None,
        "combined_beats_default_on_val": verdict,
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def print_table(report: dict) -> None:
    print(f"{'rung':<24} {'val mean':>9} {'test mean':>10} {'test spread':>12}")
    for r, s in report["summary"].items():
        print(
            f"{r:<24} {s['val']['mean']:>9.3f} {s['test']['mean']:>10.3f} "
            f"{s['test']['spread']:>12.3f}"
        )
    print(
        f"default recipe's chosen rung, val mean: {report['default_chosen_val_mean']}; "
        f"combined beats it on val: {report['combined_beats_default_on_val']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
