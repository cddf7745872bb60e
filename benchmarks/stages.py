"""Question: what does each per-cover stage cost on this CPU, before and after the fast path?

"before" is the path the toolkit ran until now, kept as the reference: eager PyTorch for the
Lite backbones, the style attribute and predict's image features; rapidocr's own ONNX Runtime
sessions for OCR. "after" is today's default:
the extractor's ONNX Runtime graph (sleeve/core/vision/runtime.py); for OCR the runtime
``SLEEVE_OCR_RUNTIME=auto`` picks (sleeve/dataset/text/ocr_runtime.py). Both run in ONE process with
the same threads, interleaved batch by batch (cover by cover for predict), so a load spike from
the machine's other users hits both sides alike; the ratio is the figure to quote. OCR keeps
its models and sizes (they decide the words); its runtimes and variants (bf16, smaller
detection input, no angle classifier) are measured against the reference read for read, to
show what each saves and what it changes.

Measured on a fixed sample of the shared covers (every k-th file of the sorted list):
  * decode (full RGB) and pHash, ms per cover;
  * OCR: covers/s before (the reference) and of the default, each runtime and each variant,
    and the share of covers whose words each reads identically to the reference;
  * Lite0 and Lite1 embeddings (224 / 240 px) before/after: covers/s (file to features), the
    lowest and median cosine between the two paths' features;
  * each attribute extractor (colour, texture, structure, faces-mtcnn, style; style before/after)
    in covers/s on the attributes' own decoded view;
  * predict of one cover (p50/p95 ms) and of 100 covers (covers/s) with a default-recipe model
    (``--model``: a run dir or model.pt), before/after, and where the after side's time goes
    (image side, words; wall and CPU) with the floor that CPU time sets on the cores;
  * peak memory (max RSS) and the CPU model and load averages before and after.

The graph export (once per weights and runtime version) is timed apart: it is not part of any
per-cover figure. Writes benchmarks/results/stages.json.
Run: .venv/bin/python benchmarks/stages.py [--covers 200] [--model RUN_DIR] [--skip ocr,...]

``--full-build IMPORTED OLD_BUILD_DATASET WORK`` instead times the first ``build-dataset
--balance --seed 0`` of the shared covers, old code and this code side by side (each from a
copy of IMPORTED, a data folder after ``collect --from-folder``, with empty caches), and checks
that manifest.csv and the dataset id are the same; writes benchmarks/results/stages_build.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
COVERS = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
RESULTS = REPO / "benchmarks" / "results" / "stages.json"
BUILD_RESULTS = REPO / "benchmarks" / "results" / "stages_build.json"
BATCH = 32  # images per network batch: what the build and training run (encode's default)


def sample(n: int) -> list[Path]:
    files = sorted(p for p in COVERS.glob("*/*") if p.is_file())
    step = max(1, len(files) // n)
    return files[::step][:n]


def machine() -> dict[str, object]:
    from sleeve.core.vision.runtime import cpu_model

    return {"cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)), "load": os.getloadavg()}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else 0.0


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def bench_decode_hash(files: list[Path]) -> dict[str, object]:
    from sleeve.core.images.intake import open_rgb
    from sleeve.dataset.dedup.hashing import hash_image

    open_rgb(files[0]), hash_image(files[0])  # warm-up: imports, first-call setup
    decode = [timed(functools.partial(open_rgb, f))[0] for f in files]
    hashing = [timed(functools.partial(hash_image, f))[0] for f in files]
    return {
        "decode_ms_median": round(1000 * statistics.median(decode), 2),
        "hash_covers_per_s": rate(len(files), sum(hashing)),
    }


def _words(result: object) -> str:
    return " ".join(
        str(t).strip()
        for _, t, s in (result or [])  # type: ignore[attr-defined]
        if str(t).strip() and float(s) >= 0.5
    )


# OCR variants against the reference reads: what each saving costs in words
OCR_VARIANTS: dict[str, dict[str, object]] = {
    "no angle classifier": {"use_cls": False},
    "detection 640 px": {"det_side": 640},
    "detection 480 px": {"det_side": 480},
    "detection 480 px, no classifier": {"det_side": 480, "use_cls": False},
}


def _bf16(engine: Any) -> Any:
    """The OpenVINO engine computing in bf16 (this CPU has bf16 units): the ceiling of the
    same models here, at the cost in words the benchmark reports. The runners compile on
    first use, so changing their configuration before any read takes effect."""
    for runner in (engine.text_det.infer, engine.text_cls.infer, engine.text_rec.session):
        runner.model._config["INFERENCE_PRECISION_HINT"] = "bf16"
    return engine


def bench_ocr(files: list[Path]) -> dict[str, object]:
    """Read for read, interleaved: the reference (rapidocr as the library builds it: ONNX
    Runtime, one thread, the path sleeve ran before the runtime choice), today's default
    (``SLEEVE_OCR_RUNTIME=auto``), each runtime, and the variants that would change the words."""
    from rapidocr_onnxruntime import RapidOCR

    from sleeve.core.images.intake import open_rgb
    from sleeve.dataset.text import ocr, ocr_runtime

    # every engine on one thread: covers/s per core, as a build's pool workers read
    engines: dict[str, Any] = {
        "before": RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1),
        "default": ocr.build_engine(threads=1),
        "onnxruntime": ocr.build_engine(runtime="onnxruntime", threads=1),
    }
    runtimes = ["onnxruntime"]
    if ocr_runtime.openvino_version() is not None:
        engines["openvino"] = ocr.build_engine(runtime="openvino", threads=1)
        engines["openvino bf16"] = _bf16(ocr.build_engine(runtime="openvino", threads=1))
        runtimes += ["openvino", "openvino bf16"]
    engines.update(
        {name: ocr.build_engine(threads=1, **kw) for name, kw in OCR_VARIANTS.items()}  # type: ignore[arg-type]
    )
    seconds = dict.fromkeys(engines, 0.0)
    same = dict.fromkeys(engines, 0)
    silent = 0
    warm = np.ascontiguousarray(np.asarray(open_rgb(files[0]))[:, :, ::-1])
    for engine in engines.values():
        engine(warm)  # sessions' first run, graphs compiled
    for f in files:
        bgr = np.ascontiguousarray(np.asarray(open_rgb(f))[:, :, ::-1])
        reads = {}
        for name, engine in engines.items():  # interleaved: load spikes hit every engine
            dt, out = timed(functools.partial(engine, bgr))
            seconds[name] += dt
            reads[name] = _words(out[0])  # type: ignore[index]
        for name in engines:
            same[name] += reads[name] == reads["before"]
        silent += not reads["before"]
    base = seconds["before"]

    def row(name: str) -> dict[str, object]:
        return {
            "covers_per_s": rate(len(files), seconds[name]),
            "speedup": round(base / seconds[name], 2),
            "words_identical": round(same[name] / len(files), 4),
        }

    return {
        "before_covers_per_s": rate(len(files), base),
        **row("default"),
        "runtime": ocr_runtime.resolve("auto"),
        "no_words_read": silent,
        "settings": {"det_side": ocr.DET_SIDE, "cls": ocr.USE_CLS, "rec_batch": ocr.REC_BATCH},
        "runtimes": {name: row(name) for name in runtimes},
        "variants": {name: row(name) for name in OCR_VARIANTS},
    }


@contextlib.contextmanager
def reference_tensors(on: bool) -> Iterator[None]:
    """While ``on``, the encoder builds its transform with torchvision's ``ToTensor`` and
    ``Normalize`` (the path before the lookup; the same values, see NormalizedTensor)."""
    from sleeve.core.vision import backbones, embeddings

    if not on:
        yield
        return
    embeddings.eval_transform = functools.partial(backbones.eval_transform, lookup=False)  # type: ignore[assignment]
    try:
        yield
    finally:
        embeddings.eval_transform = backbones.eval_transform


def bench_backbone(name: str, files: list[Path]) -> dict[str, object]:
    import torch

    from sleeve.core.vision.backbones import configure_threads, load_backbone
    from sleeve.core.vision.embeddings import FeatureRecipe, encode, extractor_for
    from sleeve.core.vision.runtime import GraphExtractor
    from sleeve.core.vision.samples import Sample

    cpu = torch.device("cpu")
    configure_threads(cpu)
    backbone = load_backbone(name, "auto", cpu)
    recipe = FeatureRecipe(backbone.input_size)
    # after: the engine `auto` picks here (its probe, kept beside the graph), as every consumer
    export_s, graph = timed(lambda: extractor_for(backbone, recipe, cpu, engine="auto"))
    assert isinstance(graph, GraphExtractor), "auto kept eager PyTorch here"
    verdict = json.loads(graph.path.with_suffix(".json").read_text())
    samples = [Sample(f, f"{i:064x}", "", "", 0) for i, f in enumerate(files)]
    t = {"torch": 0.0, graph.engine: 0.0}
    feats: dict[str, list[np.ndarray]] = {engine: [] for engine in t}
    for start in range(0, len(samples), BATCH):
        chunk = samples[start : start + BATCH]
        # alternate which side runs first, so neither always finds the files in the page cache
        order = list(t) if (start // BATCH) % 2 == 0 else list(t)[::-1]
        for engine in order:
            run = functools.partial(
                encode, chunk, backbone, recipe, cpu, batch_size=BATCH, progress=False
            )
            # before: the eager network on torchvision's ToTensor + Normalize, as it ran
            with reference_tensors(engine == "torch"):
                dt, out = timed(functools.partial(run, engine=engine))
            t[engine] += dt
            feats[engine].append(out)  # type: ignore[arg-type]
    cos = cosines(np.concatenate(feats["torch"]), np.concatenate(feats[graph.engine]))
    return {
        "input_size": recipe.size,
        "engine_after": graph.engine,
        "before_covers_per_s": rate(len(files), t["torch"]),
        "after_covers_per_s": rate(len(files), t[graph.engine]),
        "speedup": round(t["torch"] / t[graph.engine], 2),
        "cosine_min": round(float(cos.min()), 6),
        "cosine_median": round(float(np.median(cos)), 6),
        "graph_seconds_first_use": round(export_s, 1),  # export + probe, or a cache hit
        "auto_verdict": verdict,
        "threads": torch.get_num_threads(),
    }


def bench_attributes(files: list[Path]) -> dict[str, object]:
    import torch

    from sleeve.core.vision.backbones import eval_transform, load_backbone
    from sleeve.dataset.attributes import style
    from sleeve.dataset.attributes.decode import load_view
    from sleeve.dataset.attributes.registry import EXTRACTORS

    views = [load_view(f) for f in files]
    out: dict[str, object] = {}
    for name in ("colour", "texture", "structure", "faces-mtcnn", "style"):
        ex = EXTRACTORS[name]
        try:
            ex.compute(views[0])  # warm-up: model load, first call
            seconds = sum(timed(functools.partial(ex.compute, v))[0] for v in views)
        except Exception as exc:  # a missing package: say so, measure the rest
            out[name] = f"skipped: {type(exc).__name__}: {exc}"
            continue
        out[name] = {"covers_per_s": rate(len(views), seconds)}
    # style before: the eager backbone it ran on until now, same views
    backbone = load_backbone(style.BACKBONE, "auto")
    transform = eval_transform(  # torchvision's ToTensor + Normalize, as it ran
        backbone.input_size, backbone.mean, backbone.std, backbone.interpolation, lookup=False
    )
    from PIL import Image

    def eager(view):  # type: ignore[no-untyped-def]
        x = transform(Image.fromarray(view.large)).unsqueeze(0)
        with torch.inference_mode():
            return backbone.model(x.contiguous(memory_format=torch.channels_last))[0].numpy()

    eager(views[0])
    seconds = sum(timed(functools.partial(eager, v))[0] for v in views)
    if isinstance(out.get("style"), dict):
        after = np.stack([style.features(v) for v in views[:20]])
        before = np.stack([eager(v) for v in views[:20]])
        out["style"] = {
            **out["style"],  # type: ignore[dict-item]
            "before_covers_per_s": rate(len(views), seconds),
            "features_cosine_min": round(float(cosines(before, after).min()), 6),
        }
    return out


def reference_classifier_transform(clf: Any) -> Callable:
    """The classifier's eval transform with torchvision's tensor steps (the path before): its
    last step, the lookup, swapped for the transforms the lookup was computed with."""
    from torchvision import transforms as T

    *steps, lookup = clf.transform.transforms
    return T.Compose([*steps, *lookup.reference.transforms])


def bench_predict(
    model: Path, files: list[Path], singles: int, batch_covers: int
) -> dict[str, object]:
    from rapidocr_onnxruntime import RapidOCR

    from sleeve.core.settings import load_settings
    from sleeve.core.vision import runtime
    from sleeve.dataset.text import ocr, ocr_runtime
    from sleeve.inference.classifier import Classifier
    from sleeve.inference.rundir import Run

    load_at_start = machine()
    path = Run(model).model_path if model.is_dir() else model
    settings = load_settings()
    classifiers = {}
    for side, choice in (("before", "torch"), ("after", "auto")):
        runtime.configure(choice)
        classifiers[side] = Classifier.load(path, settings=settings)
    runtime.configure("auto")
    # before: torchvision's ToTensor + Normalize, as it ran
    classifiers["before"].transform = reference_classifier_transform(classifiers["before"])
    # the words: rapidocr's own sessions before (one thread), the default engine after; the
    # process holds one OCR engine, so each side's calls swap theirs in
    readers = {
        "before": RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1),
        "after": ocr._get_engine(),
    }

    def on(side: str, call: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            ocr._engine = readers[side]
            return call()

        return run

    for side, clf in classifiers.items():  # warm-up: sessions, first-call setup
        on(side, functools.partial(clf.predict, files[0]))()
    single: dict[str, list[float]] = {"before": [], "after": []}
    batch_s: dict[str, float] = {}
    for f in files[:singles]:
        for side, clf in classifiers.items():
            call = on(side, functools.partial(clf.predict, f))
            single[side].append(1000 * timed(call)[0])
    many = files[:batch_covers]
    for side, clf in classifiers.items():
        batch_s[side] = timed(on(side, functools.partial(clf.predict_batch, many)))[0]
    ocr._engine = readers["after"]
    out: dict[str, object] = {
        "machine": load_at_start,
        "model": str(path),
        "reads_text": classifiers["after"].reads_text,
        "ocr_threads_after": ocr.engine_threads(),
        "ocr_runtime_after": ocr_runtime.resolve(settings.ocr_runtime),
        "singles": singles,
        "batch_covers": len(many),
    }
    for side in ("before", "after"):
        ms = sorted(single[side])
        out[side] = {
            "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
            "batch_covers_per_s": rate(len(many), batch_s[side]),
        }
    out["p50_ratio"] = round(
        out["after"]["p50_ms"] / out["before"]["p50_ms"],  # type: ignore[index]
        3,
    )
    out["parts"] = predict_parts(classifiers["after"], files[:singles], readers["after"])
    ocr._engine = readers["after"]
    return out


def predict_parts(clf: Any, files: list[Path], reader: Any) -> dict[str, object]:
    """Where one cover's predict time goes (the after side), wall and CPU ms (p50 over
    ``files``): the image side (decode, both networks and the mirror, head) and the words
    (decode at full size, OCR on the default runtime). The floor on this machine is the two
    sides' CPU time over its cores (they could at best run side by side)."""
    wall: dict[str, list[float]] = {"image": [], "words": []}
    cpu: dict[str, list[float]] = {"image": [], "words": []}

    def clocked(key: str, call: Callable[[], object]) -> None:
        w, c = time.perf_counter(), time.process_time()
        call()
        wall[key].append(1000 * (time.perf_counter() - w))
        cpu[key].append(1000 * (time.process_time() - c))

    for f in files:
        clocked("image", functools.partial(clf._image_probabilities, [f], 1))
        clocked("words", functools.partial(words_of, reader, clf, f))
    cores = os.cpu_count() or 1
    med = {k: round(statistics.median(v), 1) for k, v in wall.items()}
    cpu_med = {k: round(statistics.median(v), 1) for k, v in cpu.items()}
    # per cover, then the median: the words' time varies with how much a cover prints, so
    # the parts' medians do not add up to the median of their sum
    both = [i + w for i, w in zip(wall["image"], wall["words"], strict=True)]
    floor = [(i + w) / cores for i, w in zip(cpu["image"], cpu["words"], strict=True)]
    return {
        "wall_p50_ms": {**med, "image+words": round(statistics.median(both), 1)},
        "cpu_p50_ms": cpu_med,
        "cores": cores,
        "floor_ms": round(statistics.median(floor), 1),
    }


def words_of(engine: Any, clf: Any, f: Path) -> object:
    """The words of one file as predict reads them (its full-size decode, then OCR)."""
    from sleeve.dataset.text import ocr

    ocr._engine = engine
    return clf.read_text([f])


def _manifest(data_dir: Path) -> tuple[str, bytes]:
    """(dataset id, manifest rows rendered by the export's owner) of the build a data folder
    holds (the id is the digest of the manifest, so equal ids mean equal manifests)."""
    from sleeve.dataset.export import read_export, render_manifest

    folders = [p for p in (data_dir / "datasets").iterdir() if p.is_dir() and p.name[0] != "."]
    [export] = [read_export(p) for p in folders]
    return export.dataset_id, render_manifest(export.rows)


def full_build(
    imported: Path, old_bin: Path, work: Path, flags: list[str] | None = None
) -> dict[str, object]:
    """The first ``build-dataset --balance --seed 0`` of the shared covers with empty caches,
    the old code (``old_bin``: another checkout's build-dataset) and this one side by side, each
    in its own copy of ``imported`` (a data folder after ``collect --from-folder``) and its own
    graph cache; wall times, and whether manifest.csv and the dataset id are the same."""
    import shutil
    import subprocess

    new_bin = Path(sys.executable).with_name("build-dataset")
    procs, started, walls = {}, {}, {}
    for side, binary in (("before", old_bin), ("after", new_bin)):
        folder = work / side
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(imported, folder)
        env = {
            **os.environ,
            "SLEEVE_DATA_DIR": str(folder),
            "XDG_CACHE_HOME": str(work / f"{side}-cache"),
        }
        cmd = [str(binary), "--balance", "--seed", "0", "--no-progress", *(flags or [])]
        started[side] = time.perf_counter()
        procs[side] = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL)
    # each side's wall ends when its own process does: waiting on them in turn would give the
    # side that finished first the other's time
    while len(walls) < len(procs):
        for side, proc in procs.items():
            if side not in walls and proc.poll() is not None:
                walls[side] = time.perf_counter() - started[side]
                if proc.returncode != 0:
                    raise SystemExit(f"the {side} build failed (exit {proc.returncode})")
        time.sleep(0.2)
    (id_b, man_b), (id_a, man_a) = _manifest(work / "before"), _manifest(work / "after")
    return {
        "flags": ["--balance", "--seed", "0", *(flags or [])],
        "covers": sum(1 for p in (imported / "images").rglob("*") if p.is_file()),
        "before_s": round(walls["before"], 1),
        "after_s": round(walls["after"], 1),
        "ratio": round(walls["after"] / walls["before"], 3),
        "same_dataset_id": id_a == id_b,
        "same_manifest_bytes": man_a == man_b,
        "dataset_ids": {"before": id_b, "after": id_a},
    }


def render(doc: dict) -> str:
    lines = [
        f"{doc['machine_before']['cpu']}, {doc['machine_before']['cores']} cores, load "
        f"{doc['machine_before']['load']} -> {doc['machine_after']['load']}; "
        f"{doc['covers']} covers",
        f"{'stage':<22} {'before/s':>9} {'after/s':>9} {'x':>6}  check",
    ]
    for name, row in doc["stages"].items():
        if not isinstance(row, dict):
            lines.append(f"{name:<22} {row}")
            continue
        if name == "ocr":
            lines.append(
                f"{'ocr (' + row['runtime'] + ')':<22} {row['before_covers_per_s']:>9} "
                f"{row['covers_per_s']:>9} {row['speedup']:>6}  "
                f"words identical {row['words_identical']:.1%}"
            )
            for variant, v in [*row["runtimes"].items(), *row["variants"].items()]:
                lines.append(
                    f"  ocr {variant:<31} {v['covers_per_s']:>6} x{v['speedup']:<5} "
                    f"words identical {v['words_identical']:.1%}"
                )
            continue
        if "before_covers_per_s" in row:
            check = (
                f"words identical {row['words_identical']:.1%}"
                if "words_identical" in row
                else f"cosine min {row.get('cosine_min', row.get('features_cosine_min'))}"
            )
            after = row.get("after_covers_per_s", row.get("covers_per_s"))
            x = row.get("speedup") or round(after / row["before_covers_per_s"], 2)
            lines.append(f"{name:<22} {row['before_covers_per_s']:>9} {after:>9} {x:>6}  {check}")
        elif "covers_per_s" in row:
            lines.append(f"{name:<22} {row['covers_per_s']:>9} {'':>9} {'':>6}")
    if "predict" in doc:
        p = doc["predict"]
        lines.append(
            f"predict one cover p50/p95 ms: before {p['before']['p50_ms']}/{p['before']['p95_ms']}"
            f", after {p['after']['p50_ms']}/{p['after']['p95_ms']} (x{p['p50_ratio']});"
            f" {p.get('batch_covers', 100)} covers: {p['before']['batch_covers_per_s']} -> "
            f"{p['after']['batch_covers_per_s']} covers/s"
        )
        if "parts" in p:
            w, c = p["parts"]["wall_p50_ms"], p["parts"]["cpu_p50_ms"]
            lines.append(
                f"  where it goes, p50 ms wall (CPU): image side {w['image']} ({c['image']}), "
                f"words {w['words']} ({c['words']}), both {w['image+words']}; floor on "
                f"{p['parts']['cores']} cores "
                f"{p['parts']['floor_ms']}"
            )
    if "build_floor" in doc:
        f = doc["build_floor"]
        lines.append(
            f"first build's per-cover stages, CPU ms per cover: before "
            f"{f['before_cpu_ms_per_cover']}, after {f['after_cpu_ms_per_cover']} "
            f"(x{f['ratio']}; OCR {f['ocr_share_after']:.0%} of after)"
        )
    lines.append(f"peak memory {doc['peak_rss_mib']} MiB")
    return "\n".join(lines)


def build_floor(stages: dict, cores: int) -> dict[str, object]:
    """The per-cover stages of a first build as a cost model from the measured rates (CPU
    seconds per cover, each stage one thread): before = the default until now (rapidocr's own
    sessions, eager Lite0 for the visual check, three attribute groups); after = today's
    default (OCR on OpenVINO, the Lite0 graph, all five groups). Over ``cores`` cores that is
    the least wall a build's per-cover pass can take; the ratio is the best a first build can
    do against before, however well the rest is scheduled."""
    ocr = stages["ocr"]
    cheap = ("attribute colour", "attribute texture", "attribute structure", "hash")
    common = sum(1.0 / stages[k]["covers_per_s"] for k in cheap)
    lite0 = stages["lite0 embedding"]
    before = 1.0 / ocr["before_covers_per_s"] + 1.0 / lite0["before_covers_per_s"] + common
    after_ocr = 1.0 / ocr["runtimes"]["openvino"]["covers_per_s"]
    after_three = after_ocr + 1.0 / lite0["after_covers_per_s"] + common
    after = (
        after_three
        + 1.0 / stages["attribute faces-mtcnn"]["covers_per_s"]
        + 1.0 / stages["attribute style"]["covers_per_s"]
    )
    return {
        "cores": cores,
        "before_cpu_ms_per_cover": round(1000 * before, 1),
        "after_cpu_ms_per_cover": round(1000 * after, 1),
        "ratio": round(after / before, 3),
        "after_three_groups_cpu_ms_per_cover": round(1000 * after_three, 1),
        "ratio_three_groups": round(after_three / before, 3),
        "ocr_share_after": round(after_ocr / after, 3),
        "after_floor_s_per_1000_covers": round(1000 * after / cores, 1),
        "one_third_of_before_cpu_ms_per_cover": round(1000 * before / 3, 1),
        "ocr_alone_after_cpu_ms_per_cover": round(1000 * after_ocr, 1),
    }


def merge(parts: list[Path], out: Path) -> int:
    """One result from parts measured in separate processes at the same time (each part's
    before/after ratio is still from one process, interleaved)."""
    docs = [json.loads(p.read_text()) for p in parts]
    doc: dict = {
        "covers": max(d["covers"] for d in docs if d["stages"]),  # a predict part has none
        "parts": [  # a part may itself be a merged result
            part
            for d in docs
            for part in d.get("parts")
            or [{"stages": sorted(d["stages"]), "covers": d["covers"], "predict": "predict" in d}]
        ],
        "machine_before": docs[0]["machine_before"],
        "machine_after": [d for d in docs if d["stages"]][-1]["machine_after"],
        "stages": {k: v for d in docs for k, v in d["stages"].items()},
        "peak_rss_mib": max(d["peak_rss_mib"] for d in docs),
    }
    for d in docs:
        if "predict" in d:
            doc["predict"] = d["predict"]
    doc["build_floor"] = build_floor(doc["stages"], doc["machine_before"]["cores"])
    print(render(doc))
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--covers", type=int, default=200)
    parser.add_argument("--ocr-covers", type=int, default=100, help="OCR reads 5 variants")
    parser.add_argument("--model", type=Path, default=None, help="a run dir or model.pt")
    parser.add_argument("--singles", type=int, default=30, help="single-cover predict calls")
    parser.add_argument("--batch-covers", type=int, default=100, help="covers in one predict")
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        help="combine part results (runs with different --skip) into --out",
    )
    parser.add_argument("--skip", default="", help="comma list: hash,ocr,lite0,lite1,attributes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--full-build",
        nargs=3,
        type=Path,
        metavar=("IMPORTED_DATA_DIR", "OLD_BUILD_DATASET", "WORK_DIR"),
        help="only the full-build comparison (writes stages_build.json)",
    )
    parser.add_argument(
        "--build-flag", action="append", default=[], help="extra build-dataset flag (repeat)"
    )
    parser.add_argument(
        "--build-out", type=Path, default=BUILD_RESULTS, help="where --full-build writes"
    )
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    if args.full_build:
        doc = {"machine_before": machine(), **full_build(*args.full_build, args.build_flag)}
        doc["machine_after"] = machine()
        print(json.dumps(doc, indent=1))
        args.build_out.write_text(json.dumps(doc, indent=1) + "\n")
        return 0
    if not COVERS.is_dir():
        print(f"skipped: the shared covers are not at {COVERS}")
        return 0
    skip = set(filter(None, args.skip.split(",")))
    files = sample(args.covers)
    doc: dict = {"covers": len(files), "machine_before": machine(), "stages": {}}
    stages = doc["stages"]
    if "hash" not in skip:
        stages["decode+hash"] = bench_decode_hash(files)
        stages["hash"] = {"covers_per_s": stages["decode+hash"]["hash_covers_per_s"]}
    if "ocr" not in skip:
        stages["ocr"] = bench_ocr(files[: args.ocr_covers])
        print("ocr", stages["ocr"], flush=True)
    for name in ("lite0", "lite1"):
        if name not in skip:
            stages[f"{name} embedding"] = bench_backbone(f"efficientnet_{name}", files)
            print(name, stages[f"{name} embedding"], flush=True)
    if "attributes" not in skip:
        for name, row in bench_attributes(files).items():
            stages[f"attribute {name}"] = row
    if args.model is not None:
        doc["predict"] = bench_predict(args.model, files, args.singles, args.batch_covers)
    doc["machine_after"] = machine()
    doc["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if {"ocr", "lite0 embedding", "attribute colour"} <= stages.keys():
        doc["build_floor"] = build_floor(stages, doc["machine_before"]["cores"])
    print(render(doc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
