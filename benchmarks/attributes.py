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

--part style: the style model (photo / illustration / typography) on the labelled covers: a
logistic regression on Lite0's pooled features (what dataset/attributes/style.py computes),
stratified 5-fold cross-validation repeated over 5 seeds with C chosen inside each training
fold, per-class precision and recall, against always answering the majority class and against
the same model on the colour + texture + structure + MTCNN values. --part style-fit also
refits on every labelled cover and writes dataset/attributes/style_weights.npz (plain arrays).

--part labels also checks the text share's "has text" (OCR found a word; or share above a
cut) against the has_text labels, words from a copied OCR catalog (SLEEVE_BENCH_OCR_CATALOG,
default /tmp/attr-data/catalog.db, e.g. a copy of benchmarks/text.py's work catalog) or read
now. --part text: the text share's speed and per-folder profile over that cache.

Timing on a shared machine: each extractor runs on one thread, so its CPU time per cover
(time.process_time) is what a dedicated core would take; the 2-idle-core estimates divide the
CPU time by 2. --part all --sample --n N runs the stage on an even sample (CPU of the workers
counted through RUSAGE_CHILDREN) when the machine is too busy for all covers.

Run: .venv/bin/python benchmarks/attributes.py [--n 200]
     [--part speed|labels|all|style|style-fit|text] [--only A,B] [--sample]
Writes benchmarks/results/attributes.json (each part its own keys).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COVERS = ROOT.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument(
        "--part",
        choices=("speed", "labels", "all", "style", "style-fit", "text"),
        default="speed",
    )
    ap.add_argument("--only", default="colour,texture,structure")
    ap.add_argument("--sample", action="store_true", help="--part all: only an even --n sample")
    args = ap.parse_args()
    if args.part == "labels":
        return labels()
    if args.part == "text":
        _save({"text_share": text_share_speed()})
        return 0
    if args.part == "all":
        return whole_stage(args.only, args.n if args.sample else None)
    if args.part in ("style", "style-fit"):
        return style(fit=args.part == "style-fit")
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
    t, c = time.perf_counter(), time.process_time()
    views = [load_view(f) for f in sample]
    decode_s = (time.perf_counter() - t) / len(sample)
    decode_cpu = (time.process_time() - c) / len(sample)
    out: dict[str, object] = {
        "covers": len(sample),
        "all_shared_covers": len(files),
        "load_average_before": os.getloadavg()[0],
        "decode_ms": round(decode_s * 1000, 2),
        "decode_cpu_ms": round(decode_cpu * 1000, 2),
    }
    per: dict[str, dict[str, float]] = {}
    for name, ex in EXTRACTORS.items():
        ex.compute(views[0])  # load models outside the timing
        t, c = time.perf_counter(), time.process_time()
        values = [ex.compute(v) for v in views]
        s = (time.perf_counter() - t) / len(views)
        cpu = (time.process_time() - c) / len(views)
        per[name] = {
            "ms_per_cover": round(s * 1000, 2),
            "cpu_ms_per_cover": round(cpu * 1000, 2),
            "images_per_s_with_decode_1_process": round(1.0 / (s + decode_s), 1),
            # one thread per worker, so CPU time is what a dedicated core would take
            "images_per_s_with_decode_1_idle_core": round(1.0 / (cpu + decode_cpu), 1),
            "est_minutes_all_covers_2_idle_cores": round(
                len(files) * (cpu + decode_cpu) / 2 / 60, 2
            ),
        }
        if name.startswith("faces"):
            per[name]["share_with_face"] = round(
                sum(v["face_count"] > 0 for v in values) / len(values), 3
            )
        print(name, per[name], flush=True)
    out["extractors"] = per
    out["text_share"] = text_share_speed()
    out["load_average_after"] = os.getloadavg()[0]
    _save({"speed": out})
    return 0


def text_share_speed() -> dict[str, object]:
    """The text share costs no detection: time it from the cached boxes of a copied catalog."""
    from sleeve.dataset.attributes.text_share import values_of

    boxes = _ocr_cache()
    if not boxes:
        return {"note": f"no OCR cache at {OCR_CATALOG}"}
    t, c = time.perf_counter(), time.process_time()
    for words, w, h in boxes.values():
        values_of(words, w, h)
    n = len(boxes)
    out: dict[str, object] = {
        "covers": n,
        "ms_per_cover": round((time.perf_counter() - t) / n * 1000, 3),
        "cpu_ms_per_cover": round((time.process_time() - c) / n * 1000, 3),
    }
    # per folder (genre): the card's has_text and text_share columns over the read covers
    import hashlib

    from sleeve.dataset.attributes.export import genre_profile

    folder = {}
    for f in sorted(COVERS.glob("*/*.jpg")):
        folder.setdefault(hashlib.sha256(f.read_bytes()).hexdigest(), f.parent.name)
    attrs = {sha: {"text": values_of(*boxes[sha])} for sha in boxes if sha in folder}
    profile = genre_profile({sha: folder[sha] for sha in attrs}, attrs, [])
    out["profile"] = profile
    return out


# a copy of a catalog whose covers' words were read (benchmarks/text.py's work dir)
OCR_CATALOG = Path(os.environ.get("SLEEVE_BENCH_OCR_CATALOG", "/tmp/attr-data/catalog.db"))


def _ocr_cache() -> dict[str, tuple[list, int, int]]:
    """sha256 -> (words, width, height) from the copied catalog's cover_text cache."""
    import sqlite3

    from sleeve.dataset.text.ocr import loads

    if not OCR_CATALOG.is_file():
        return {}
    con = sqlite3.connect(f"file:{OCR_CATALOG}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT t.sha256, t.words, i.width, i.height FROM cover_text t "
            "JOIN cover_images i ON i.sha256 = t.sha256"
        ).fetchall()
    finally:
        con.close()
    return {sha: (loads(words), w, h) for sha, words, w, h in rows}


def _cpu_seconds(resource) -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


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


def _cv_scores(x, y, seeds: int = 5, balanced: bool = False) -> dict[str, object]:
    """Stratified 5-fold predictions repeated over seeds; C chosen inside each training fold
    (LogisticRegressionCV), so the held-out fold never picks its own regularisation."""
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import precision_recall_fscore_support
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = sorted(set(y))
    accs, prec, rec = [], {c: [] for c in classes}, {c: [] for c in classes}
    for seed in range(seeds):
        weight = "balanced" if balanced else None
        inner = LogisticRegressionCV(Cs=STYLE_CS, cv=4, max_iter=5000, class_weight=weight)
        model = make_pipeline(StandardScaler(), inner)
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        pred = cross_val_predict(model, x, y, cv=folds)
        accs.append(float((pred == y).mean()))
        p, r, _, _ = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
        for c, pc, rc in zip(classes, p, r, strict=True):
            prec[c].append(float(pc))
            rec[c].append(float(rc))
    return {
        "cv_accuracy_mean": round(float(np.mean(accs)), 3),
        "cv_accuracy_sd": round(float(np.std(accs)), 3),
        "precision_by_class": {c: round(float(np.mean(v)), 3) for c, v in prec.items()},
        "recall_by_class": {c: round(float(np.mean(v)), 3) for c, v in rec.items()},
    }


STYLE_CS = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)


def style(fit: bool) -> int:
    """The style model: Lite0 features vs the measured attributes, same folds; with ``fit``,
    the Lite0 model refitted on every labelled cover is written into the package."""
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    from sleeve.dataset.attributes import style as style_mod
    from sleeve.dataset.attributes.decode import load_view
    from sleeve.dataset.attributes.registry import EXTRACTORS

    rows, path_of = _labelled()
    names = ("colour", "texture", "structure", "faces-mtcnn")
    lite, attrs = [], []
    t = time.perf_counter()
    for r in rows:
        view = load_view(path_of[r["sha256"]])
        lite.append(style_mod.features(view))
        vec: list[float] = []
        for name in names:
            ex = EXTRACTORS[name]
            values = ex.compute(view)
            vec += [float(values[c]) for c in ex.columns]
            if name == "colour":
                vec.append(float(values["palette_shares"][0]))  # how flat the colouring is
        attrs.append(vec)
    print(f"features of {len(rows)} covers in {time.perf_counter() - t:.0f} s", flush=True)
    y = np.array([r["style"] for r in rows])
    classes = sorted(set(y))
    majority = max(classes, key=lambda c: (y == c).sum())
    result: dict[str, object] = {
        "covers": len(rows),
        "counts": {c: int((y == c).sum()) for c in classes},
        "majority_baseline": round(float((y == majority).mean()), 3),
        "majority_class": majority,
        "lite0_logreg": _cv_scores(np.array(lite), y),
        "lite0_logreg_balanced": _cv_scores(np.array(lite), y, balanced=True),
        "attributes_logreg": _cv_scores(np.array(attrs), y),
    }
    if fit:
        x = np.array(lite)
        scaler = StandardScaler().fit(x)
        model = LogisticRegressionCV(Cs=STYLE_CS, cv=5, max_iter=5000).fit(scaler.transform(x), y)
        np.savez(
            style_mod.WEIGHTS,
            version=np.array(style_mod.VERSION),
            classes=np.array([str(c) for c in model.classes_]),
            mean=scaler.mean_,
            scale=scaler.scale_,
            coef=model.coef_,
            intercept=model.intercept_,
            C=np.array(float(model.C_[0])),
            fitted_on=np.array(len(rows)),
        )
        result["shipped"] = {"C": float(model.C_[0]), "weights": style_mod.WEIGHTS.name,
                             "version": style_mod.VERSION}  # fmt: skip
    _save({"style": result})
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
        # result values are dicts (built above); typed as object
        result[ex.name]["face_recall_by_style"] = {  # type: ignore[index]
            k: round(sum(v) / len(v), 3) for k, v in sorted(by_style.items())
        }
    result["text"] = has_text_check(rows, path_of)
    _save({"labelled": result})
    return 0


def has_text_check(rows: list[dict[str, str]], path_of: dict[str, Path]) -> dict[str, object]:
    """OCR's words (cached, else read now) against the has_text labels, and the text share."""
    from PIL import Image

    from sleeve.dataset.attributes.text_share import values_of
    from sleeve.dataset.text.ocr import read_words

    cache = _ocr_cache()
    got, read_now = [], 0
    for r in rows:
        if r["sha256"] in cache:
            words, w, h = cache[r["sha256"]]
        else:
            words = read_words(path_of[r["sha256"]])
            with Image.open(path_of[r["sha256"]]) as img:
                w, h = img.size
            read_now += 1
        got.append(values_of(words, w, h))
    truth = [r["has_text"] == "1" for r in rows]
    out: dict[str, object] = {"words_from_cache": len(rows) - read_now, "read_now": read_now}
    out["has_text_any_word"] = _pr(truth, [g["has_text"] == 1 for g in got])
    for cut in (0.005, 0.01, 0.02):
        out[f"has_text_share_ge_{cut}"] = _pr(truth, [g["share"] >= cut for g in got])
    for label, want in (("labelled_with_text", True), ("labelled_without", False)):
        shares = [g["share"] for g, t in zip(got, truth, strict=True) if t == want]
        out[f"mean_share_{label}"] = round(sum(shares) / max(1, len(shares)), 4)
    return out


def whole_stage(only: str, n: int | None = None) -> int:
    import hashlib
    import resource
    import tempfile

    from sleeve.core.catalog.db import open_catalog
    from sleeve.dataset.attributes.compute import ensure_attributes
    from sleeve.dataset.attributes.export import genre_profile
    from sleeve.dataset.attributes.registry import resolve

    files = sorted(COVERS.glob("*/*.jpg"))
    if n:  # an even sample: on a machine too busy for the whole set, CPU time extrapolates
        files = files[:: max(1, len(files) // n)][:n]
    t = time.perf_counter()
    covers = [
        (hashlib.sha256(f.read_bytes()).hexdigest(), str(f.relative_to(COVERS))) for f in files
    ]
    sha_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_catalog(f"sqlite:///{tmp}/catalog.db")
        runs = []
        for _ in range(2):
            t, load = time.perf_counter(), os.getloadavg()[0]
            cpu0 = _cpu_seconds(resource)
            attrs, report = ensure_attributes(catalog, COVERS, covers, resolve(only), workers=2)
            cpu = _cpu_seconds(resource) - cpu0  # this process and its (joined) workers
            runs.append({"seconds": round(time.perf_counter() - t, 1),
                         "cpu_seconds": round(cpu, 1), "load_average_before": load,
                         **report.as_dict()})  # fmt: skip
        distinct = len({sha for sha, _ in covers})
        runs[0]["est_minutes_3817_distinct_2_idle_cores"] = round(
            runs[0]["cpu_seconds"] / max(1, distinct) * 3817 / 2 / 60, 2
        )
        catalog.dispose()
    # the per-genre profile the dataset card shows, over every shared cover (folder = genre)
    genre_of = {sha: rel.split("/", 1)[0] for sha, rel in covers}
    profile = genre_profile(genre_of, attrs, resolve(only))
    _save(
        {
            f"all:{only}" + (f":n={n}" if n else ""): {
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
