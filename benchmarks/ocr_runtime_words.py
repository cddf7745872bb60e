"""Question: does the OCR runtime chosen by default read the same words as the reference?

The reference is the words a catalog already holds for the shared covers, read by rapidocr on
ONNX Runtime as the library builds it (the words the text rung was trained and validated on).
This script reads every shared cover again with ``--runtime`` (through the same worker pool
`build-dataset` uses) and compares, cover by cover: the strings read (what the text rung
sees) and the whole record (strings, confidences to 4 decimals, boxes). Covers are matched by
the sha256 of their file, so byte-identical copies count once.

Run: .venv/bin/python benchmarks/ocr_runtime_words.py --catalog DATA_DIR/catalog.db
     [--runtime openvino] [--limit N]
or, when another catalog already holds the runtime's words (e.g. the "after" side of
``stages.py --full-build``), compare the two caches without reading again:
     .venv/bin/python benchmarks/ocr_runtime_words.py --catalog REF/catalog.db \
         --compare AFTER/catalog.db --runtime openvino
Writes benchmarks/results/ocr_runtime_words.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COVERS = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
RESULTS = REPO / "benchmarks" / "results" / "ocr_runtime_words.json"


def reference_words(catalog_path: Path, version: str) -> dict[str, str]:
    """sha256 -> words JSON, as the catalog's cover-text cache holds them."""
    from sqlalchemy import select

    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.models import CoverText
    from sleeve.dataset.text.ocr import ENGINE

    catalog = open_catalog(f"sqlite:///{catalog_path.resolve()}", migrate=False)
    with catalog.session() as s:
        rows = s.execute(
            select(CoverText.sha256, CoverText.words).where(
                CoverText.engine == ENGINE, CoverText.engine_version == version
            )
        )
        return {sha: words for sha, words in rows}


def latest_dataset(catalog_path: Path) -> str | None:
    """The id of the newest export beside a catalog (its data folder's LATEST pointer)."""
    from sleeve.dataset.export import latest_export

    export = latest_export(catalog_path.parent / "datasets")
    return export.name if export is not None else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", type=Path, required=True, help="a catalog with the words read")
    ap.add_argument("--runtime", default="openvino", choices=("onnxruntime", "openvino"))
    ap.add_argument("--limit", type=int, default=0, help="read only the first N distinct covers")
    ap.add_argument("--compare", type=Path, help="a catalog holding the runtime's words already")
    args = ap.parse_args()
    if not COVERS.is_dir():
        print(f"skipped: the shared covers are not at {COVERS}")
        return 0
    os.environ["SLEEVE_OCR_RUNTIME"] = args.runtime  # the worker processes read it too

    from sleeve.dataset.text import ocr

    version = ocr.require_engine()
    reference = reference_words(args.catalog, version)
    todo: dict[str, Path] = {}
    for path in sorted(p for p in COVERS.glob("*/*") if p.is_file()):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha in reference:
            todo.setdefault(sha, path)
    shas = list(todo)[: args.limit or None]
    start = time.perf_counter()
    if args.compare:
        theirs = reference_words(args.compare, version)
        shas = [s for s in shas if s in theirs]
        read: list[tuple[str | None, str]] = [(theirs[s], "") for s in shas]
    else:
        read = list(ocr.read_files([todo[s] for s in shas], progress=True))
    seconds = time.perf_counter() - start

    same_text = same_record = failed = 0
    differ: list[dict[str, object]] = []
    for sha, (words_json, _reason) in zip(shas, read, strict=True):
        if words_json is None:
            failed += 1
            continue
        old, new = ocr.loads(reference[sha]), ocr.loads(words_json)
        old_text, new_text = [w.text for w in old], [w.text for w in new]
        same_text += old_text == new_text
        same_record += ocr.dumps(old) == ocr.dumps(new)
        if old_text != new_text and len(differ) < 20:
            differ.append({"sha256": sha[:16], "reference": old_text, "runtime": new_text})
    n = len(shas)
    out = {
        "question": "same words from the OCR runtime as the cached reference (ONNX Runtime)?",
        "runtime": args.runtime,
        "engine": f"{ocr.ENGINE} {version}",
        "covers": n,
        "failed": failed,
        "words_identical": round(same_text / n, 4) if n else None,
        "records_identical": round(same_record / n, 4) if n else None,
        "covers_differing": n - failed - same_text,
        "examples": differ,
        "source": f"the cache of {args.compare}" if args.compare else "read now",
        # the builds beside the two catalogs (build-dataset --balance --seed 0 on each)
        "dataset_ids": {
            "reference": latest_dataset(args.catalog),
            "runtime": latest_dataset(args.compare) if args.compare else None,
        },
        "seconds": None if args.compare else round(seconds, 1),
        "covers_per_s": None if args.compare else round(n / seconds, 2),
        "load": os.getloadavg(),
    }
    print(f"{'runtime':<12} {'covers':>7} {'words same':>11} {'records same':>13} {'covers/s':>9}")
    print(
        f"{args.runtime:<12} {n:>7} {out['words_identical']!s:>11} "
        f"{out['records_identical']!s:>13} {out['covers_per_s']!s:>9}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
