"""Read the words printed on a cover (OCR), offline.

The engine is ``rapidocr-onnxruntime`` (optional extra ``sleeve[ocr]``): PP-OCRv4 detection and
recognition as ONNX files inside the wheel, so nothing is downloaded. Each process builds the
engine once. onnxruntime runs with one thread per process: on a 2-core machine one thread
reads faster than two (the threads fight over the cores), so parallelism comes from worker
processes instead (benchmarks/ocr_engines.py measures the rate, one process per core).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sleeve.core.errors import BadImageError, UsageError
from sleeve.core.images.intake import UNREADABLE, failure_reason, open_rgb
from sleeve.core.procs import worker_pool
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar

ENGINE = "rapidocr-onnxruntime"
INSTALL_HINT = "pip install 'sleeve[ocr]'"
MIN_CONFIDENCE = 0.5  # the engine's own default text score: weaker reads are mostly noise
_CHUNK = 4  # covers per task sent to a worker (reads are slow and uneven, so small chunks balance)
_MIN_PARALLEL = 16  # below this, starting workers (each loads the models) costs more

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
        require_engine()
        from rapidocr_onnxruntime import RapidOCR

        _engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    return _engine


def read_words(source: str | Path | bytes | Image.Image) -> list[Word]:
    """The words on one image, in reading order (BadImageError if it cannot be decoded)."""
    return _words_in(open_rgb(source))


def _words_in(img: Image.Image) -> list[Word]:
    engine = _get_engine()
    try:
        result, _ = engine(np.ascontiguousarray(np.asarray(img)[:, :, ::-1]))  # BGR
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


def _init_worker() -> None:
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 comes with the engine
        pass


def read_files(
    paths: Sequence[str | Path], *, workers: int | None = None, progress: Progress = True
) -> Iterator[tuple[str | None, str]]:
    """Read ``paths`` (in worker processes when it pays); yields (JSON or None, reason) in order."""
    require_engine()
    jobs = [str(p) for p in paths]
    workers = workers or os.cpu_count() or 1
    bar = progress_bar(len(jobs), "ocr", progress=progress)
    with bar:
        if workers == 1 or len(jobs) < _MIN_PARALLEL:
            for job in jobs:
                yield _read_job(job)
                bar.update()
            return
        # spawn, not fork: a forked copy of a process whose onnxruntime threads already ran can
        # deadlock (measured here: the pool hung)
        pool = worker_pool(workers, "spawn", initializer=_init_worker)
        try:
            for result in pool.map(_read_job, jobs, chunksize=_CHUNK):
                yield result
                bar.update()
        finally:
            # on an interrupt (or the caller stopping early) drop the queued covers instead of
            # reading them all before returning
            pool.shutdown(wait=True, cancel_futures=True)
