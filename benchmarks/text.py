"""Question: do the words printed on a cover (OCR) help the genre classifier, on the shared
5-genre covers, and does the fused rung win on validation over three split seeds?

Everything goes through the product: `collect --from-folder` (import_folder), then
`build-dataset --balance --seed S` (which reads the exported covers' words with the OCR engine,
cached in the catalog, and writes text.jsonl), then `train-and-evaluate --method
svc,text,fused` on the Lite0+Lite1 stack (240 px, --flip-tta, --style; embeddings cached).
Per seed: image-only (that SVC), text-only and fused weighted F1 on val and test.

OCR speed is measured on a fresh probe of covers (not from the cache), with one engine process
per core. A proxy for "seen artist" (folder imports carry no artist): a test cover counts as
"name seen" when one of its words of >= 4 letters also appears on a train cover.

`--image lite0` measures against the default backbone instead (text-lite0.json).

Artist evidence (artists.csv, dataset/text/artist_stage.py): test covers are also split by whether
their artist (credited, or read from the words and printed on another cover too) also appears
in train ("artist_seen"), appears only outside train ("artist_unseen") or is unknown
("artist_none"). `--group-by-artist` builds the exports with artist-grouped splits
(export-g<seed>, runs/<image>-g-seed<seed>, results suffix -grouped) to measure their effect.
The artist matcher's precision and recall on the covers labelled by eye
(tests/data/cover_artists.csv) are measured on the first seed's export.

Writes benchmarks/results/text.json; skips (exit 0) when the covers are absent. Re-runs reuse
the catalog (OCR cache) and the embedding cache under --work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "covers-5genre" / "Album_Covers"
COVERS = Path(os.environ.get("SLEEVE_BENCH_COVERS", _SHARED))
RESULTS = Path(__file__).parent / "results" / "text.json"
SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "cover_artists.csv"
RUNGS = ("svc", "text", "fused")
IMAGE = {  # the image rung's features: the strongest measured (stack), or the default backbone
    "stack": dict(
        backbone="efficientnet_lite0+efficientnet_lite1", image_size=240, flip_tta=True, style=True
    ),
    "lite0": dict(backbone="efficientnet_lite0", image_size=224),
}
_WORD = re.compile(r"[^\W\d_]{4,}")
KINDS = ("seen", "unseen", "none")


def build_exports(
    work: Path, seeds: list[int], progress: bool, grouped: bool = False, visual: bool = True
) -> tuple[dict[int, Path], dict]:
    from dataclasses import replace

    from sleeve.collector.folder_import import import_folder
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.jsonrecord import plain
    from sleeve.core.settings import load_settings
    from sleeve.core.taxonomy import Taxonomy
    from sleeve.dataset.build import build_dataset

    settings = replace(
        load_settings({}, env_file=None), data_dir=work / "catalog", visual_dedup=visual
    )
    catalog = open_catalog(settings.catalog_url)
    taxonomy = Taxonomy.load()
    mapping = {"Electronic": "electronic", "Rock": "rock"}  # not study genres: added as-is
    import_folder(catalog, settings, taxonomy, COVERS, mapping, progress=False)
    exports, text_cards = {}, {}
    for seed in seeds:
        built = build_dataset(
            catalog,
            settings,
            taxonomy,
            balance=True,
            seed=seed,
            out=work / f"export-{'g' if grouped else ''}{seed}",
            progress=progress,
            attributes="off",  # not what this measures; the catalog may lack them
            group_by_artist=grouped,
        )
        # not a dry run: the export dir is set
        exports[seed] = Path(built.export_dir)  # type: ignore[arg-type]
        text_cards[seed] = plain(built.card.text or {}) | {"artists": plain(built.card.artists)}
    catalog.dispose()
    return exports, text_cards


def ocr_probe(export: Path, n: int) -> dict:
    """Covers/s reading ``n`` test covers afresh, one engine process per core."""
    from sleeve.dataset.text.ocr import read_files
    from sleeve.training.data import load_export

    samples = load_export(export, check_images=False).split("test")[:n]
    workers = os.cpu_count() or 1
    start = time.perf_counter()
    results = list(read_files([s.path for s in samples], workers=workers, progress=False))
    seconds = time.perf_counter() - start
    with_text = sum(1 for r, _ in results if r and r != "[]")
    return {
        "covers": len(samples),
        "workers": workers,
        "seconds": round(seconds, 1),
        "covers_per_second": round(len(samples) / seconds, 2),
        "share_with_text": round(with_text / max(1, len(samples)), 3),
        "note": "includes starting the worker processes (each loads the ONNX models once)",
    }


def name_seen_split(export: Path, probs: dict[str, object]) -> dict:
    """Test weighted F1 per rung for covers whose words (>= 4 letters) also appear in train."""
    import numpy as np

    from sleeve.inference.text_head import weighted_f1
    from sleeve.training.data import load_export
    from sleeve.training.fit.methods.text import export_texts

    ex = load_export(export, check_images=False)
    texts = export_texts(ex) or {}
    train_words = {
        w.lower() for s in ex.split("train") for w in _WORD.findall(texts.get(s.sha256, ""))
    }
    test = ex.split("test")
    seen = np.array(
        [
            any(w.lower() in train_words for w in _WORD.findall(texts.get(s.sha256, "")))
            for s in test
        ]
    )
    y = np.array([s.label for s in test])
    out = {"test_covers_name_seen": int(seen.sum()), "test_covers": len(test)}
    for rung in RUNGS:
        p = probs[f"{rung}_test"]
        out[rung] = {
            # p is one of the run's probability arrays (probs is typed dict of object)
            "name_seen": round(weighted_f1(y[seen], p[seen]), 4) if seen.any() else None,  # type: ignore[index]
            "name_unseen": round(weighted_f1(y[~seen], p[~seen]), 4) if (~seen).any() else None,  # type: ignore[index]
        }
    return out


def artist_split(export: Path, probs: dict[str, object]) -> dict:
    """Test weighted F1 per rung by artist: seen in train, unseen, unknown (artists.csv)."""
    from sleeve.training.data import load_export
    from sleeve.training.evaluation.artist_split import artist_breakdown

    # the npz arrays, read as a dict of object
    got = artist_breakdown(load_export(export, check_images=False), probs)  # type: ignore[arg-type]
    if not got:
        return {}
    out: dict[str, object] = {f"test_covers_artist_{k}": got["counts"][k] for k in KINDS}
    for rung in RUNGS:
        out[rung] = {f"artist_{k}": got["weighted_f1"][rung][k] for k in KINDS}
    return out


def sample_report(export: Path) -> dict:
    """The artist evidence against the covers labelled by eye (coverage, precision, recall),
    per sample: "tune" (the rules were adjusted on it) and "held-out" (labelled afterwards)."""
    import csv

    from sleeve.dataset.text.artist_stage import ARTIST_TABLE, load_table
    from sleeve.dataset.text.artists import same_artist

    if not SAMPLE.is_file():
        return {}
    table = load_table(export / ARTIST_TABLE)
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        labelled = list(csv.DictReader(f))
    out = {}
    for name in ("tune", "held-out", "all"):
        rows = [
            (table[r["sha256"]].key, r["artist"])
            for r in labelled
            if r["sha256"] in table and name in ("all", r["sample"])
        ]
        keyed = [(k, a) for k, a in rows if k]
        right = sum(1 for k, a in keyed if a and same_artist(k, a))
        readable = [(k, a) for k, a in rows if a]
        found = sum(1 for k, a in readable if k and same_artist(k, a))
        out[name] = {
            "labelled": sum(1 for r in labelled if name in ("all", r["sample"])),
            "in_export": len(rows),
            "artist_readable": len(readable),
            "got_an_artist": len(keyed),
            "right": right,
            "precision": round(right / len(keyed), 3) if keyed else None,
            "recall": round(found / len(readable), 3) if readable else None,
            "wrong": [f"{k} vs {a!r}" for k, a in keyed if not (a and same_artist(k, a))],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sleeve-text-bench",
        help="catalog (OCR cache), exports, embedding cache, runs "
        "(default: $TMPDIR/sleeve-text-bench)",
    )
    ap.add_argument("--seeds", default="0,1,2", help="split seeds (default 0,1,2)")
    ap.add_argument("--probe", type=int, default=48, help="covers in the OCR speed probe")
    ap.add_argument(
        "--image",
        choices=sorted(IMAGE),
        default="stack",
        help="image rung: stack (Lite0+Lite1, 240 px, flip-TTA, style; default) or lite0 (224 px)",
    )
    ap.add_argument(
        "--group-by-artist", action="store_true", help="artist-grouped splits (export-g<seed>)"
    )
    ap.add_argument(
        "--visual-dedup",
        choices=("on", "off"),
        default="on",
        help="build-dataset's visual duplicate stage (off: pHash groups only, as before it)",
    )
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    results = RESULTS if args.image == "stack" else RESULTS.with_name(f"text-{args.image}.json")
    if args.group_by_artist:
        results = results.with_name(results.stem + "-grouped.json")
    if not COVERS.is_dir():
        reason = f"skipped: {COVERS} is absent (set SLEEVE_BENCH_COVERS)"
        print(reason)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"skipped": reason}, indent=2) + "\n")
        return 0
    from sleeve.dataset.text.ocr import engine_version

    if engine_version() is None:
        print("skipped: the OCR engine is not installed (pip install 'sleeve[ocr]')")
        return 0
    import numpy as np

    from sleeve.training.run import TrainConfig, train_and_evaluate

    started = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    exports, text_cards = build_exports(
        args.work,
        seeds,
        not args.no_progress,
        grouped=args.group_by_artist,
        visual=args.visual_dedup == "on",
    )
    per_seed: list[dict] = []
    for seed in seeds:
        config = TrainConfig(
            methods=RUNGS,
            seed=seed,
            device="cpu",
            progress=not args.no_progress,
            **IMAGE[args.image],
        )
        t0 = time.perf_counter()
        result = train_and_evaluate(
            exports[seed],
            args.work / "runs" / f"{args.image}-{'g-' if args.group_by_artist else ''}seed{seed}",
            config,
            data_dir=args.work / "data",
        )
        print(f"[seed {seed}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        methods = result.metrics.methods
        probs = dict(np.load(result.run.probabilities_path))
        per_seed.append(
            {
                "seed": seed,
                "counts": {sp: sum(c.values()) for sp, c in result.metrics.counts.items()},
                "share_with_text": methods["text"].params["covers_with_text"],
                "text_weight": methods["fused"].params["text_weight"],
                "text_C": methods["text"].params["C"],
                **{
                    rung: {
                        "val": round(methods[rung].val["weighted_f1"], 4),
                        "test": round(methods[rung].test["weighted_f1"], 4),
                    }
                    for rung in RUNGS
                },
                "name_seen": name_seen_split(exports[seed], probs),
                "artist_seen": artist_split(exports[seed], probs),
                "best_on_val": result.best_method,
                "fused_images_per_second": methods["fused"].images_per_second,
            }
        )
        report = summarise(per_seed, text_cards, started, args.image)  # after every seed
        report["grouped_by_artist"] = args.group_by_artist
        report["visual_dedup"] = args.visual_dedup
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(report, indent=2) + "\n")
    report = summarise(per_seed, text_cards, started, args.image)
    report["grouped_by_artist"] = args.group_by_artist
    report["visual_dedup"] = args.visual_dedup
    report["artist_sample"] = sample_report(exports[seeds[0]])
    report["ocr_probe"] = ocr_probe(exports[seeds[0]], args.probe)
    print_table(report)
    results.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def summarise(per_seed: list[dict], text_cards: dict, started: float, image: str) -> dict:
    artist = {
        rung: {
            f"artist_{k}": round(statistics.mean(vals), 4) if vals else None
            for k in KINDS
            for vals in [
                [
                    r["artist_seen"][rung][f"artist_{k}"]
                    for r in per_seed
                    if r.get("artist_seen") and r["artist_seen"][rung][f"artist_{k}"] is not None
                ]
            ]
        }
        for rung in RUNGS
    }
    summary = {
        rung: {
            sp: {
                "mean": round(statistics.mean(r[rung][sp] for r in per_seed), 4),
                "spread": round(
                    max(r[rung][sp] for r in per_seed) - min(r[rung][sp] for r in per_seed), 4
                ),
            }
            for sp in ("val", "test")
        }
        for rung in RUNGS
    }
    return {
        "question": "do the cover's words help, and does fused win on val over three seeds?",
        "image_rung": {"method": "svc", **IMAGE[image]},
        "text_rung": "char_wb 3-5-gram TF-IDF (sublinear, min_df 2) + logistic regression",
        "export_text": {
            str(s): {k: v for k, v in c.items() if k != "skipped_examples"}
            for s, c in text_cards.items()
        },
        "seeds": per_seed,
        "summary": summary,
        "artist_summary": artist,
        "fused_wins_on_val_on_average": summary["fused"]["val"]["mean"]
        > summary["svc"]["val"]["mean"],
        "caveat": "the text weight is chosen on val, so fused's val figure is optimistic; "
        "test is read once per rung",
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def print_table(report: dict) -> None:
    probe = report["ocr_probe"]
    print(
        f"OCR: {probe['covers_per_second']} covers/s ({probe['covers']} covers, "
        f"{probe['workers']} processes); covers with words: "
        + ", ".join(f"seed {r['seed']} {r['share_with_text']:.0%}" for r in report["seeds"])
    )
    print(
        f"{'rung':<8} "
        + " ".join(f"{'s' + str(r['seed']) + ' val':>9} {'test':>6}" for r in report["seeds"])
        + f" {'mean val':>9} {'test':>6} {'spread':>7}"
    )
    for rung in RUNGS:
        cells = " ".join(f"{r[rung]['val']:>9.3f} {r[rung]['test']:>6.3f}" for r in report["seeds"])
        s = report["summary"][rung]
        print(
            f"{rung:<8} {cells} {s['val']['mean']:>9.3f} {s['test']['mean']:>6.3f} "
            f"{s['test']['spread']:>7.3f}"
        )
    print("text weight per seed: " + ", ".join(str(r["text_weight"]) for r in report["seeds"]))
    print(f"fused wins on val on average: {report['fused_wins_on_val_on_average']}")
    for r in report["seeds"]:
        ns = r["name_seen"]
        print(
            f"seed {r['seed']}: {ns['test_covers_name_seen']}/{ns['test_covers']} test covers show "
            "a word seen in train; test wF1 seen/unseen: "
            + ", ".join(f"{k} {ns[k]['name_seen']}/{ns[k]['name_unseen']}" for k in RUNGS)
        )
        a = r.get("artist_seen") or {}
        if a:
            print(
                "  artist seen/unseen/none in train: "
                + "/".join(str(a[f"test_covers_artist_{k}"]) for k in KINDS)
                + " test covers; wF1 "
                + ", ".join(
                    f"{rung} " + "/".join(str(a[rung][f"artist_{k}"]) for k in KINDS)
                    for rung in RUNGS
                )
            )
    if report.get("artist_sample"):
        print(f"artist sample: {report['artist_sample']}")


if __name__ == "__main__":
    raise SystemExit(main())
