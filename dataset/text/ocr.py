"""Read the words printed on a cover (OCR), offline.

The engine is ``rapidocr-onnxruntime`` (optional extra ``sleeve[ocr]``): PP-OCRv4 detection and
recognition as ONNX files inside the wheel, so nothing is downloaded; its models run on
OpenVINO or ONNX Runtime (:mod:`ocr_runtime`). Each process builds the engine once. In a
pool's worker the models run on one thread: on a 2-core machine two workers of one thread
read faster than workers of two threads (the threads fight over the cores), so parallelism
comes from the engine's workers (:mod:`sleeve.core.engine`; benchmarks/ocr_engines.py);
a process reading on its own (``predict``, the app) uses every core.

Where a read's time goes is measured by benchmarks/stages.py (docs/performance.md): detection
takes most of it; a smaller detection input is the only large saving and it changes the words,
so the defaults keep the library's models and sizes. The wrapper already skips recognition
when detection finds no line and recognises the lines in batches.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sleeve.core.engine import Engine, LocalEngine
from sleeve.core.errors import BadImageError, UsageError
from sleeve.core.images.intake import UNREADABLE, failure_reason, open_rgb
from sleeve.core.procs import available_cores
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar
from sleeve.core.settings import load_settings
from sleeve.dataset.text import ocr_runtime

ENGINE = "rapidocr-onnxruntime"
INSTALL_HINT = "pip install 'sleeve[ocr]'"
MIN_CONFIDENCE = 0.5  # the engine's own default text score: weaker reads are mostly noise
CHUNK = 8  # covers per batch sent to a worker (reads are slow and uneven: small batches balance)
MIN_PARALLEL = 16  # below this, starting workers (each loads the models) costs more
# Detection input: None keeps the library's (shorter side scaled up to 736 px). Smaller inputs
# are faster but change the words read (benchmarks/stages.py, docs/performance.md), so the
# default keeps it.
DET_SIDE: int | None = None
USE_CLS = True  # turning the angle classifier off changed words (benchmarks/stages.py)
REC_BATCH = 6  # text-line crops per recognition run (the library's)

_engine: Any = None  # one per process, built on first use
# The reason counted when the engine itself fails on an image that passed the intake.
ENGINE_ERROR = "ocr-engine-error"


@dataclass(frozen=True)
class Word:
    """One line of text the engine read: its string, confidence (0..1) and 4-corner box (px)."""

    text: str
    confidence: float
    box: tuple[tuple[int, int], ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "box": [list(p) for p in self.box],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Word:
        return cls(
            str(d["text"]), float(d["confidence"]), tuple((int(x), int(y)) for x, y in d["box"])
        )


def engine_version() -> str | None:
    """The installed engine's version, or None when the extra is not installed."""
    try:
        return metadata.version(ENGINE)
    except metadata.PackageNotFoundError:
        return None


def engine_available() -> bool:
    return engine_version() is not None


def require_engine() -> str:
    version = engine_version()
    if version is None:
        raise UsageError(f"reading cover text needs the OCR engine: {INSTALL_HINT}")
    return version


def _get_engine() -> Any:
    global _engine
    if _engine is None:
        _engine = build_engine()
    return _engine


def build_engine(
    det_side: int | None = DET_SIDE,
    use_cls: bool = USE_CLS,
    rec_batch: int = REC_BATCH,
    runtime: str | None = None,
    threads: int | None = None,
) -> Any:
    """A RapidOCR engine, its models on ``runtime`` (None: the setting ``SLEEVE_OCR_RUNTIME``;
    see :mod:`ocr_runtime`) with ``threads`` each (None: :func:`engine_threads`). The
    benchmark builds variants with it."""
    require_engine()
    from rapidocr_onnxruntime import RapidOCR

    chosen = ocr_runtime.resolve(runtime or load_settings().ocr_runtime)
    engine = RapidOCR(
        intra_op_num_threads=1, inter_op_num_threads=1, use_cls=use_cls, rec_batch_num=rec_batch
    )
    if det_side is not None:
        _size_detection(engine, det_side)
    ocr_runtime.attach(engine, chosen, threads=threads or engine_threads())
    return engine


def engine_threads() -> int:
    """Threads for this process's OCR models: one in a worker of a pool (the pool's workers
    use the cores; two threads each fight over them), the ``OMP_NUM_THREADS`` a scheduler such
    as Ray gives its task, else every core (``predict``, the app: one read at a time)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return 1
    omp = os.environ.get("OMP_NUM_THREADS", "")
    return int(omp) if omp.isdigit() and int(omp) > 0 else available_cores()


def _size_detection(engine: Any, side: int) -> None:
    """Detect at ``side`` px on the longer side, up or down (the wrapper only offers "scale
    the shorter side up to N" or fixed 960/1500/2000 steps)."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    det = engine.text_det

    class CoverSized(DetPreProcess):  # type: ignore[misc]
        def resize(self, img: np.ndarray) -> np.ndarray:
            import cv2

            h, w = img.shape[:2]
            scale = side / max(h, w)
            height = max(32, round(h * scale / 32) * 32)
            width = max(32, round(w * scale / 32) * 32)
            return cv2.resize(img, (width, height))

    det.get_preprocess = lambda _longest: CoverSized(side, "max", det.mean, det.std)


def read_words(source: str | Path | bytes | Image.Image) -> list[Word]:
    """The words on one image, in reading order (BadImageError if it cannot be decoded)."""
    return read_pixels(np.asarray(open_rgb(source)))


def read_pixels(rgb: np.ndarray) -> list[Word]:
    """The words on one decoded RGB picture (H, W, 3 uint8)."""
    engine = _get_engine()
    try:
        result, _ = engine(np.ascontiguousarray(rgb[:, :, ::-1]))  # BGR
    except Exception as exc:  # the engine's errors (rapidocr's ResizeImgError,
        # onnxruntime's) share no base: each fails this one image like a bad file, counted
        raise BadImageError(ENGINE_ERROR, f"the OCR engine failed: {type(exc).__name__}") from None
    words = []
    for box, text, score in result or []:
        text = str(text).strip()
        if text and float(score) >= MIN_CONFIDENCE:
            corners = tuple((round(float(x)), round(float(y))) for x, y in box)
            words.append(Word(text, float(score), corners))
    return words


def words_text(words: Sequence[Word]) -> str:
    """The words as one string (what the text model reads)."""
    return " ".join(w.text for w in words)


def dumps(words: Sequence[Word]) -> str:
    return json.dumps([w.as_dict() for w in words], ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> list[Word]:
    return [Word.from_dict(d) for d in json.loads(text or "[]")]


def _read_job(path: str) -> tuple[str | None, str]:
    """(words as JSON, "") or (None, reason); never raises, so one bad file never stops a run."""
    try:
        return dumps(read_words(path)), ""
    except UNREADABLE as exc:
        return None, failure_reason(exc, path)


def read_covers(root: str, items: Sequence[tuple[str, str]]) -> list[tuple[str | None, str]]:
    """The engine's unit of work: read each (sha256, path relative to ``root``) cover."""
    _single_threaded_cv2()
    return [_read_job(str(Path(root) / rel)) for _, rel in items]


def _read_paths(items: Sequence[tuple[int, str]]) -> list[tuple[str | None, str]]:
    _single_threaded_cv2()
    return [_read_job(path) for _, path in items]


@functools.cache
def _single_threaded_cv2() -> None:
    try:
        import cv2

        cv2.setNumThreads(1)  # parallelism comes from the engine's workers
    except ImportError:  # pragma: no cover - cv2 comes with the engine
        pass


def default_engine(workers: int | None = None) -> Engine:
    """The local pool, one worker per core (each worker loads the models once)."""
    return LocalEngine(workers or available_cores())


def read_files(
    paths: Sequence[str | Path],
    *,
    workers: int | None = None,
    progress: Progress = True,
    engine: Engine | None = None,
) -> Iterator[tuple[str | None, str]]:
    """Read ``paths`` through ``engine`` (default: the local pool of ``workers``, in-process for
    a few covers); yields (JSON or None, reason) in the order of ``paths``."""
    require_engine()
    jobs = list(enumerate(str(p) for p in paths))
    if engine is None:
        engine = default_engine(1 if len(jobs) < MIN_PARALLEL else workers)
    bar = progress_bar(len(jobs), "ocr", progress=progress)
    done: dict[int, tuple[str | None, str]] = {}
    next_out = 0
    with bar:
        for batch, results in engine.map_batches(_read_paths, jobs, CHUNK):
            done.update(zip((i for i, _ in batch), results, strict=True))
            bar.update(len(batch))
            while next_out in done:  # batches finish out of order; yield in order
                yield done.pop(next_out)
                next_out += 1
