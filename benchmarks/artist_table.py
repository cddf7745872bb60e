"""Question: how many train covers should an artist need to enter the fused model's artist table
(sleeve/inference/artist_table.py, MIN_COVERS)?

On one built export (default: the data dir's LATEST, e.g. the shared covers built with
`build-dataset --balance --seed 0`), with no training: the table is built from the train
covers' artist evidence (artists.csv, plus text_extra.jsonl's when present) for each minimum,
the val covers' artists are recognised from their words (text.jsonl) as predict recognises a
new cover's, and the table's answer alone (the artist's smoothed genre shares, argmax) is
scored on the recognised val covers: how many covers it reaches and how often it is right.
A baseline in the same run: the train split's majority genre on the same covers. Val only;
test is never read.

Run: .venv/bin/python benchmarks/artist_table.py [--export DIR]
Writes benchmarks/results/artist_table.json; skips (exit 0) when no export is found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "artist_table.json"
MINIMA = (1, 2, 3, 5)


def main() -> int:
    from sleeve.core.errors import SleeveError
    from sleeve.dataset.export import latest_export
    from sleeve.inference.artist_table import build_artist_table
    from sleeve.inference.text_head import weighted_f1
    from sleeve.training.data import load_export
    from sleeve.training.fit.artists import train_evidence

    ap = argparse.ArgumentParser()
    ap.add_argument("--export", type=Path, help="an export dir (default: the newest export)")
    args = ap.parse_args()
    datasets = Path(os.environ.get("SLEEVE_DATA_DIR", "sleeve-data")) / "datasets"
    export_dir = args.export or latest_export(datasets)
    try:
        export = load_export(export_dir, check_images=False) if export_dir else None
    except SleeveError as exc:  # no export there (or not a readable one): nothing to measure
        print(f"skipped: {exc}")
        return 0
    if export is None:
        print(f"skipped: no export under {datasets}")
        return 0
    evidence, extra = train_evidence(export)
    words = export.dataset.word_table
    val = export.split("val")
    y = np.array([s.label for s in val])
    train_y = np.array([s.label for s in export.split("train")])
    majority = int(np.bincount(train_y, minlength=len(export.genres)).argmax())
    rows = []
    for minimum in MINIMA:
        start = time.perf_counter()
        table = build_artist_table(evidence, export.genres, min_covers=minimum)
        found = [table.recognise(words.get(s.sha256, [])) for s in val]
        seconds = time.perf_counter() - start
        hit = np.array([f is not None for f in found], dtype=bool)
        shares = np.array([table.shares(f[0]) for f in found if f is not None])
        base = np.eye(len(export.genres))[np.full(int(hit.sum()), majority)]
        rows.append(
            {
                "min_covers": minimum,
                "artists": len(table),
                "val_covers": len(val),
                "val_recognised": int(hit.sum()),
                "table_accuracy": round(float((shares.argmax(1) == y[hit]).mean()), 4)
                if hit.any()
                else None,
                "table_weighted_f1": round(weighted_f1(y[hit], shares), 4) if hit.any() else None,
                "majority_weighted_f1": round(weighted_f1(y[hit], base), 4) if hit.any() else None,
                "seconds": round(seconds, 2),
            }
        )
    print(f"export {export_dir}: {len(evidence)} train covers with artist evidence ({extra} extra)")
    print(f"{'min':>4} {'artists':>8} {'val hit':>8} {'acc':>7} {'wF1':>7} {'majority':>9}")
    for r in rows:
        print(
            f"{r['min_covers']:>4} {r['artists']:>8} {r['val_recognised']:>8} "
            f"{r['table_accuracy']!s:>7} {r['table_weighted_f1']!s:>7} "
            f"{r['majority_weighted_f1']!s:>9}"
        )
    report = {
        "export": str(export_dir),
        "dataset_id": export.dataset_id,
        "train_covers_with_artist": len(evidence),
        "extra_covers_with_artist": extra,
        "by_min_covers": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
