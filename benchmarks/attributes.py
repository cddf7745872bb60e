"""Cover attributes: images/s per extractor on the shared covers, one process.

Question: which extractors are cheap enough for build-dataset to run by default, and how long
does `sleeve attributes` take over all 4,115 shared covers on 2 cores?

Measured on an even sample of N shared covers (default 200), in this process with one thread:
decoding (load_view: JPEG draft decode to <= 512 px, then 256 px) and each extractor alone
on the decoded views. Images/s per extractor include the decode (what a run of that extractor
alone costs); the estimate for all covers divides by the worker count (2).

--part labels: precision and recall of each face detector on the 100 shared covers labelled
by eye in tests/data/cover_attribute_labels.csv (sha256 -> face, person, group, style,
has_text; every 41st shared cover in sorted path order from the 8th). Labelling rules: face =
a human face visible, drawn or photographed, even small or in profile; person = a human
figure (a face, or a body seen from behind); group = 3 or more people; style = photo,
illustration (drawn, painted, graphic design with imagery) or typography (lettering, logo or
a record label only); has_text = legible title/artist lettering (a parental-advisory logo
alone does not count). Detector person/group come from its face count.

--part all: the stage itself (ensure_attributes, 2 worker processes, a throwaway SQLite
catalog) over every shared cover with --only (default: build-dataset's colour, texture,
structure), then again to show the cache (nothing computed).

--part style: how far the measured attributes go towards the style label (photo /
illustration / typography) on the 100 labelled covers: a standardised logistic regression on
colour + texture + structure + MTCNN face values, stratified 5-fold cross-validation repeated
over 5 seeds, against always answering the majority class. A starting point for a style
attribute, not one.

Run: .venv/bin/python benchmarks/attributes.py [--n 200] [--part speed|labels|all|style]
     [--only A,B]
Writes benchmarks/results/attributes.json (each part its own keys).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COVERS = ROOT.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--part", choices=("speed", "labels", "all", "style"), default="speed")
    ap.add_argument("--only", default="colour,texture,structure")
    args = ap.parse_args()
    if args.part == "labels":
        return labels()
    if args.part == "all":
        return whole_stage(args.only)
    if args.part == "style":
        return style()
    import torch
    from threadpoolctl import threadpool_limits

    from sleeve.dataset.attributes.decode import load_view
    from sleeve.dataset.attributes.registry import EXTRACTORS

    threadpool_limits(1)
    torch.set_num_threads(1)
    files = sorted(COVERS.glob("*/*.jpg"))
    if not files:
        print(f"no covers under {COVERS}", file=sys.stderr)
        return 3
    step = max(1, len(files) // args.n)
    sample = files[::step][: args.n]
    t = time.perf_counter()
    views = [load_view(f) for f in sample]
    decode_s = (time.perf_counter() - t) / len(sample)
    out: dict[str, object] = {
        "covers": len(sample),
        "all_shared_covers": len(files),
        "decode_ms": round(decode_s * 1000, 2),
    }
    per: dict[str, dict[str, float]] = {}
    for name, ex in EXTRACTORS.items():
        ex.compute(views[0])  # load models outside the timing
        t = time.perf_counter()
        values = [ex.compute(v) for v in views]
        s = (time.perf_counter() - t) / len(views)
        per[name] = {
            "ms_per_cover": round(s * 1000, 2),
            "images_per_s_with_decode_1_process": round(1.0 / (s + decode_s), 1),
            "est_minutes_all_covers_2_workers": round(len(files) * (s + decode_s) / 2 / 60, 2),
        }
        if name.startswith("faces"):
            per[name]["share_with_face"] = round(
                sum(v["face_count"] > 0 for v in values) / len(values), 3
            )
        print(name, per[name], flush=True)
    out["extractors"] = per
    _save({"speed": out})
    return 0


def _save(part: dict[str, object]) -> None:
    dest = ROOT / "benchmarks" / "results" / "attributes.json"
    doc = json.loads(dest.read_text()) if dest.is_file() else {}
    doc.update(part)
    dest.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(part, indent=2))


def _pr(truth: list[bool], found: list[bool]) -> dict[str, float | int]:
    tp = sum(t and f for t, f in zip(truth, found, strict=True))
    fp = sum(f and not t for t, f in zip(truth, found, strict=True))
    fn = sum(t and not f for t, f in zip(truth, found, strict=True))
    return {
        "positives": sum(truth),
        "found": sum(found),
        "precision": round(tp / (tp + fp), 3) if tp + fp else float("nan"),
        "recall": round(tp / (tp + fn), 3) if tp + fn else float("nan"),
    }


def _labelled() -> tuple[list[dict[str, str]], dict[str, Path]]:
    import csv
    import hashlib

    rows = list(csv.DictReader((ROOT / "tests" / "data" / "cover_attribute_labels.csv").open()))
    wanted = {r["sha256"] for r in rows}
    path_of: dict[str, Path] = {}
    for folder in sorted({r["folder"] for r in rows}):
        for f in sorted((COVERS / folder).glob("*.jpg")):
            sha = hashlib.sha256(f.read_bytes()).hexdigest()
            if sha in wanted:
                path_of.setdefault(sha, f)
    return [r for r in rows if r["sha256"] in path_of], path_of


def style() -> int:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sleeve.dataset.attributes.decode import load_view
    from sleeve.dataset.attributes.registry import EXTRACTORS

    rows, path_of = _labelled()
    names = ("colour", "texture", "structure", "faces-mtcnn")
    feats = []
    for r in rows:
        view = load_view(path_of[r["sha256"]])
        vec: list[float] = []
        for name in names:
            ex = EXTRACTORS[name]
            values = ex.compute(view)
            vec += [float(values[c]) for c in ex.columns]
            if name == "colour":
                vec.append(float(values["palette_shares"][0]))  # how flat the colouring is
        feats.append(vec)
    x = np.array(feats)
    y = np.array([r["style"] for r in rows])
    classes = sorted(set(y))
    accs, recalls = [], {c: [] for c in classes}
    for seed in range(5):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        pred = cross_val_predict(model, x, y, cv=folds)
        accs.append(float((pred == y).mean()))
        for c in classes:
            recalls[c].append(float((pred[y == c] == c).mean()))
    majority = max(classes, key=lambda c: (y == c).sum())
    _save(
        {
            "style": {
                "covers": len(rows),
                "counts": {c: int((y == c).sum()) for c in classes},
                "cv_accuracy_mean": round(float(np.mean(accs)), 3),
                "cv_accuracy_sd": round(float(np.std(accs)), 3),
                "recall_by_class": {c: round(float(np.mean(v)), 3) for c, v in recalls.items()},
                "majority_baseline": round(float((y == majority).mean()), 3),
            }
        }
    )
    return 0


def labels() -> int:
    from sleeve.dataset.attributes.decode import load_view
    from sleeve.dataset.attributes.faces import HAAR, MTCNN

    rows, path_of = _labelled()
    views = [load_view(path_of[r["sha256"]]) for r in rows]
    result: dict[str, object] = {"covers": len(rows)}
    for ex in (MTCNN, HAAR):
        got = [ex.compute(v) for v in views]
        result[ex.name] = {
            key: _pr([r[key] == "1" for r in rows], [g[fld] > 0 for g in got])
            for key, fld in (("face", "face_count"), ("person", "person"), ("group", "group"))
        }
        by_style: dict[str, list[bool]] = {}
        for r, g in zip(rows, got, strict=True):
            if r["face"] == "1":
                by_style.setdefault(r["style"], []).append(g["face_count"] > 0)
        result[ex.name]["face_recall_by_style"] = {  # type: ignore[index]
            k: round(sum(v) / len(v), 3) for k, v in sorted(by_style.items())
        }
    _save({"labelled": result})
    return 0


def whole_stage(only: str) -> int:
    import hashlib
    import tempfile

    from sleeve.catalog.db import open_catalog
    from sleeve.dataset.attributes.compute import ensure_attributes
    from sleeve.dataset.attributes.export import genre_profile
    from sleeve.dataset.attributes.registry import resolve

    files = sorted(COVERS.glob("*/*.jpg"))
    t = time.perf_counter()
    covers = [
        (hashlib.sha256(f.read_bytes()).hexdigest(), str(f.relative_to(COVERS))) for f in files
    ]
    sha_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_catalog(f"sqlite:///{tmp}/catalog.db")
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            attrs, report = ensure_attributes(catalog, COVERS, covers, resolve(only), workers=2)
            runs.append({"seconds": round(time.perf_counter() - t, 1), **report.as_dict()})
        catalog.dispose()
    # the per-genre profile the dataset card shows, over every shared cover (folder = genre)
    genre_of = {sha: rel.split("/", 1)[0] for sha, rel in covers}
    profile = genre_profile(genre_of, attrs, resolve(only))
    _save(
        {
            f"all:{only}": {
                "covers": len(files),
                "sha256_seconds": round(sha_s, 1),
                "runs": runs,
                "profile": profile,
            }
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
