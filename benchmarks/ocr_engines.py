"""Question: which offline OCR engine reads the shared covers better here: the default
(rapidocr-onnxruntime, PP-OCRv4 ONNX models inside the wheel) or Debian's tesseract
(`apt-get install tesseract-ocr`, 5.x, LSTM `eng` model)?

On one seeded sample of the shared covers (default 300, all genres), each engine reads every
cover afresh with one process per core (2 here; one thread each), and we measure:
  * covers/s (wall, including starting the engines);
  * share of covers with at least one word read (each engine's own confidence floor: 0.5 for
    rapidocr's score, 50 for tesseract's 0..100 word confidence; tokens need a letter or digit);
  * word agreement: per cover, the Jaccard overlap of the two engines' sets of words of >= 3
    letters (lower case), and the share of rapidocr's words that tesseract also reads;
  * the text rung's usefulness: weighted F1 of the project's text model (character 3-5-gram
    TF-IDF + logistic regression, C fixed at 10) in 5-fold stratified cross-validation over the
    sample, the same folds for both engines (300 covers is small: compare the engines, do not
    read the level as the rung's).

tesseract is run through its command line (no Python binding needed) on the cover upscaled so
that its shorter side is >= 600 px (it reads small print badly at 300 px), page segmentation
``--psm 11`` (sparse text: a cover is not a page) unless ``--psm`` says otherwise.

Writes benchmarks/results/ocr_engines.json; skips (exit 0) when the covers or an engine are
absent. Run: .venv/bin/python benchmarks/ocr_engines.py [--n 300] [--psm 11]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COVERS = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
RESULTS = REPO / "benchmarks" / "results" / "ocr_engines.json"
TESS_MIN_CONF = 50.0
TESS_MIN_SIDE = 600
_TOKEN = re.compile(r"[^\W_]{2,}")
_WORD = re.compile(r"[^\W\d_]{3,}")


def tesseract_words(path: str, psm: int = 11) -> list[str]:
    """The lines tesseract reads on one cover (words with confidence >= TESS_MIN_CONF)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = max(1.0, TESS_MIN_SIDE / min(img.size))
        if scale > 1:
            size = (round(img.width * scale), round(img.height * scale))
            img = img.resize(size, Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, "PNG")
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    out = subprocess.run(
        ["tesseract", "stdin", "stdout", "--psm", str(psm), "-l", "eng", "tsv"],
        input=buf.getvalue(),
        capture_output=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout.decode("utf-8", "replace")
    lines: dict[tuple[str, ...], list[str]] = {}
    for row in out.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if text and float(cols[10]) >= TESS_MIN_CONF and _TOKEN.search(text):
            lines.setdefault(tuple(cols[1:5]), []).append(text)
    return [" ".join(ws) for ws in lines.values()]


def _tess_job(args: tuple[str, int]) -> list[str]:
    try:
        return tesseract_words(*args)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def read_tesseract(paths: list[str], psm: int, workers: int) -> tuple[list[list[str]], float]:
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        out = list(pool.map(_tess_job, [(p, psm) for p in paths], chunksize=4))
    return out, time.perf_counter() - start


def read_rapidocr(paths: list[str], workers: int) -> tuple[list[list[str]], float]:
    from sleeve.dataset.text.ocr import loads, read_files

    start = time.perf_counter()
    res = list(read_files(paths, workers=workers, progress=False))
    seconds = time.perf_counter() - start
    return [[w.text for w in loads(r)] if r else [] for r, _ in res], seconds


def words(lines: list[str]) -> set[str]:
    return {w.lower() for line in lines for w in _WORD.findall(line)}


def agreement(a: list[list[str]], b: list[list[str]]) -> dict[str, float]:
    jac, rec = [], []
    for la, lb in zip(a, b, strict=True):
        wa, wb = words(la), words(lb)
        if wa | wb:
            jac.append(len(wa & wb) / len(wa | wb))
        if wa:
            rec.append(len(wa & wb) / len(wa))
    return {
        "mean_jaccard_of_words": round(sum(jac) / max(1, len(jac)), 3),
        "share_of_rapidocr_words_tesseract_reads": round(sum(rec) / max(1, len(rec)), 3),
    }


def cv_weighted_f1(texts: list[str], y: list[int], seed: int = 0) -> float:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from sleeve.inference.text_head import CharTfidf

    y_arr = np.array(y)
    pred = np.zeros_like(y_arr)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    for tr, te in folds.split(texts, y_arr):
        tfidf = CharTfidf.fit([texts[i] for i in tr])
        model = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
        model.fit(tfidf.transform([texts[i] for i in tr]), y_arr[tr])
        pred[te] = model.predict(tfidf.transform([texts[i] for i in te]))
    return round(float(f1_score(y_arr, pred, average="weighted", zero_division=0)), 4)


def summary(lines: list[list[str]], seconds: float, y: list[int]) -> dict[str, object]:
    return {
        "seconds": round(seconds, 1),
        "covers_per_second": round(len(lines) / seconds, 2),
        "share_with_words": round(sum(1 for ls in lines if ls) / len(lines), 3),
        "mean_words_of_3_letters": round(sum(len(words(ls)) for ls in lines) / len(lines), 2),
        "text_only_cv_weighted_f1": cv_weighted_f1([" ".join(ls) for ls in lines], y),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="covers in the sample")
    ap.add_argument("--psm", type=int, default=11, help="tesseract page segmentation mode")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not COVERS.is_dir():
        print(f"skipped: the shared covers are not at {COVERS}")
        return 0
    from sleeve.dataset.text.ocr import engine_version

    tess = shutil.which("tesseract")
    if engine_version() is None or tess is None:
        print("skipped: needs rapidocr (pip install 'sleeve[ocr]') and tesseract (apt-get)")
        return 0
    files = sorted(p for p in COVERS.glob("*/*.jpg"))
    sample = sorted(random.Random(args.seed).sample(files, min(args.n, len(files))))
    genres = sorted({p.parent.name for p in sample})
    y = [genres.index(p.parent.name) for p in sample]
    paths = [str(p) for p in sample]
    workers = os.cpu_count() or 1
    version = subprocess.run([tess, "--version"], capture_output=True, text=True).stdout
    rapid, rapid_s = read_rapidocr(paths, workers)
    print(f"rapidocr: {len(paths) / rapid_s:.2f} covers/s", flush=True)
    tesseract, tess_s = read_tesseract(paths, args.psm, workers)
    print(f"tesseract: {len(paths) / tess_s:.2f} covers/s", flush=True)
    result = {
        "question": "rapidocr (default) or Debian's tesseract for reading the covers here?",
        "covers": len(paths),
        "sample_seed": args.seed,
        "workers": workers,
        "rapidocr": {"version": engine_version()} | summary(rapid, rapid_s, y),
        "tesseract": {
            "version": version.splitlines()[0] if version else "?",
            "psm": args.psm,
            "upscaled_to_min_side": TESS_MIN_SIDE,
            "min_confidence": TESS_MIN_CONF,
        }
        | summary(tesseract, tess_s, y),
        "agreement": agreement(rapid, tesseract),
        "examples": [
            {"cover": Path(p).name, "rapidocr": r[:4], "tesseract": t[:4]}
            for p, r, t in list(zip(paths, rapid, tesseract, strict=True))[:8]
        ],
        "note": "text-only F1: 5-fold stratified CV over the sample, same folds for both "
        "engines, TF-IDF char 3-5-grams + logistic regression (C=10); chance level with "
        f"{len(genres)} genres is about {1 / len(genres):.2f}",
    }
    for name in ("rapidocr", "tesseract"):
        r = result[name]
        print(
            f"{name:<10} {r['covers_per_second']:>5} covers/s  words on {r['share_with_words']:.0%}"
            f"  text-only CV wF1 {r['text_only_cv_weighted_f1']:.3f}"
        )
    print("agreement: " + json.dumps(result["agreement"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
