"""Top-k genres for covers given as files, folders or http(s) URLs.

Every input goes through the same intake as harvested covers (``inspect_image`` /
``open_rgb``): HTML served as an image, decompression bombs, truncated files and anything over
``settings.max_image_bytes`` are refused with a ``BadImageError`` whose reason names the
problem, while CMYK, grayscale, alpha and animated images are converted, not refused. URLs go
through the shared HTTP layer (service ``web``: its timeouts, retries and size cap).

One bad input never stops the others: :func:`predict_inputs` returns one
:class:`PredictionResult` per resolved input, in input order, each holding either predictions
or a one-line error. Images are decoded a chunk at a time and classified with one
``predict_batch`` call per chunk, so the model sees batches and memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from sleeve.core.errors import NothingYetError, SleeveError, UsageError
from sleeve.core.settings import Settings
from sleeve.inference.artist_table import ArtistContribution
from sleeve.inference.inputs import ImageLoader, image_from_bytes, resolve_inputs
from sleeve.inference.rundir import latest_run

# the fastest of batch 1/8/32 for Lite0 on 2 CPU cores (benchmarks/predict.py,
# throughput_images_per_second in benchmarks/results/predict.json)
DEFAULT_BATCH_SIZE = 8


class PredictionLike(Protocol):
    genre: str
    probability: float


class ClassifierLike(Protocol):
    """What predict needs from ``sleeve.inference.classifier.Classifier``."""

    @property
    def genres(self) -> list[str]: ...

    def predict_batch(
        self, images: Sequence[Any], top_k: int = 3
    ) -> Sequence[Sequence[PredictionLike]]: ...


@dataclass(frozen=True)
class GenreScore:
    genre: str
    probability: float


@dataclass(frozen=True)
class PredictionResult:
    """The answer for one input: ``predictions`` when it worked, ``error`` when it did not."""

    path: str  # the input as the user gave it (a file path or a URL)
    predictions: tuple[GenreScore, ...] = ()
    error: str | None = None  # one line, e.g. "html: an HTML page was served instead of an image"
    reason: str | None = None  # short code: missing-file, html, bomb, too-large, timeout, http-404…
    # the words read on the cover (text, confidence) when the model reads text; None otherwise
    words: tuple[tuple[str, float], ...] | None = None
    # the artist of the model's artist table the words named, and what it contributed
    artist: ArtistContribution | None = None
    unsure: bool | None = None  # top probability under --min-confidence (None: not asked)

    @property
    def answer(self) -> str | None:
        """The top genre, "unsure" below the asked confidence, None for an error."""
        if not self.ok or not self.predictions:
            return None
        return UNSURE if self.unsure else self.predictions[0].genre

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out: dict[str, Any] = {
            "path": self.path,
            "predictions": [
                {"genre": p.genre, "probability": round(p.probability, 6)} for p in self.predictions
            ],
        }
        if self.words is not None:
            out["words"] = [{"text": t, "confidence": round(c, 4)} for t, c in self.words]
        if self.words is not None:  # a text model: which artist its words named (or null)
            out["artist"] = self.artist.as_dict() if self.artist is not None else None
        if self.unsure is not None:  # --min-confidence asked: the genre, or "unsure"
            out["answer"] = self.answer
        return out


UNSURE = "unsure"


def with_min_confidence(
    results: Sequence[PredictionResult], min_confidence: float | None
) -> list[PredictionResult]:
    """``results`` with ``unsure`` set where the top probability is under ``min_confidence``."""
    if min_confidence is None:
        return list(results)
    if not 0.0 <= min_confidence <= 1.0:
        raise UsageError(f"--min-confidence must be between 0 and 1 (got {min_confidence})")
    return [
        replace(r, unsure=r.predictions[0].probability < min_confidence)
        if r.ok and r.predictions
        else r
        for r in results
    ]


# -- which model -------------------------------------------------------------------------------


def resolve_run_dir(model: Path | None, settings: Settings) -> Path:
    """``--model`` if given, else ``<data_dir>/runs/LATEST``; a ``UsageError`` says what to run."""
    if model is not None:
        if not model.exists():
            raise UsageError(f"--model {model} does not exist (give a run directory or model.pt)")
        return model
    latest = latest_run(settings.runs_dir)
    if latest is None:
        raise NothingYetError(
            f"no trained model found (no {settings.runs_dir / 'LATEST'}): run "
            "`train-and-evaluate` first, or pass --model RUN_DIR"
        )
    run = latest.root
    if not run.exists():
        raise UsageError(
            f"{settings.runs_dir / 'LATEST'} names {run}, which does not exist: run "
            "`train-and-evaluate` again, or pass --model RUN_DIR"
        )
    return run


def load_classifier(model: Path | None, settings: Settings) -> Any:
    """The trained ``Classifier`` for ``--model`` (or the latest run), loaded once."""
    from sleeve.inference.classifier import Classifier  # torch is imported only when needed

    return Classifier.load(resolve_run_dir(model, settings), settings=settings)


# -- prediction ----------------------------------------------------------------------------------


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def failure(path: str, exc: SleeveError) -> PredictionResult:
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return PredictionResult(path=path, error=one_line(exc), reason=str(reason))


def _scores(preds: Sequence[PredictionLike]) -> tuple[GenreScore, ...]:
    return tuple(GenreScore(p.genre, float(p.probability)) for p in preds)


def predict_images(
    classifier: ClassifierLike,
    images: Sequence[tuple[str, Image.Image]],
    top_k: int,
) -> list[PredictionResult]:
    """Classify already-loaded images in one batch; ``images`` pairs each with its label."""
    if not images:
        return []
    pictures = [img for _, img in images]
    if not getattr(classifier, "reads_text", False):
        batch = classifier.predict_batch(pictures, top_k=top_k)
        return [
            PredictionResult(path=name, predictions=_scores(preds))
            for (name, _), preds in zip(images, batch, strict=True)
        ]
    # a model with a text rung: each cover's words read once, used, and shown with the artist
    # they named (ClassifierLike leaves out answer_batch: only a text model, checked above,
    # needs it)
    answers = classifier.answer_batch(pictures, top_k=top_k)  # type: ignore[attr-defined]
    return [
        PredictionResult(
            path=name,
            predictions=_scores(answer.predictions),
            words=tuple((w.text, float(w.confidence)) for w in answer.words or ()),
            artist=answer.artist,
        )
        for (name, _), answer in zip(images, answers, strict=True)
    ]


def predict_inputs(
    classifier: ClassifierLike,
    inputs: Sequence[str],
    top_k: int,
    settings: Settings,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    on_result: Callable[[PredictionResult], None] | None = None,
) -> list[PredictionResult]:
    """Predict the top ``top_k`` genres for every input (files, folders, URLs).

    Returns one result per resolved input, in order. Per-input problems (missing file, not an
    image, bomb, too large, URL timeout/4xx/5xx) become error results; only misuse
    (``top_k`` < 1, no inputs) raises ``UsageError``. ``on_result`` is called as each result
    is ready (for progress bars).
    """
    if top_k < 1:
        raise UsageError(f"top-k must be at least 1 (got {top_k})")
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1 (got {batch_size})")
    sources = resolve_inputs(inputs)
    if not sources:
        raise UsageError("no inputs given: pass image files, folders or http(s) URLs")
    top_k = min(top_k, len(classifier.genres))
    loader = ImageLoader(settings)
    results: list[PredictionResult] = []
    n_workers = max(1, workers if workers is not None else settings.download_workers)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for start in range(0, len(sources), batch_size):
            chunk = sources[start : start + batch_size]
            loaded = list(pool.map(lambda s: _load_or_error(loader, s), chunk))
            good = [
                (s, x) for s, x in zip(chunk, loaded, strict=True) if isinstance(x, Image.Image)
            ]
            try:
                answers = iter(predict_images(classifier, good, top_k))
            except SleeveError as exc:  # the model refused the whole batch: say so per input
                answers = iter([failure(s, exc) for s, _ in good])
            for item in loaded:
                result = item if isinstance(item, PredictionResult) else next(answers)
                results.append(result)
                if on_result is not None:
                    on_result(result)
    return results


def _load_or_error(loader: ImageLoader, source: str) -> Image.Image | PredictionResult:
    try:
        return loader.load(source)
    except SleeveError as exc:
        return failure(source, exc)


def predict_bytes(
    classifier: ClassifierLike, data: bytes, name: str, top_k: int, settings: Settings
) -> PredictionResult:
    """One uploaded image (the app's upload box): same intake, same result shape."""
    try:
        image = image_from_bytes(data, settings)
    except SleeveError as exc:
        return failure(name, exc)
    return predict_images(classifier, [(name, image)], min(top_k, len(classifier.genres)))[0]


def predict_source(
    classifier: ClassifierLike, source: str, top_k: int, settings: Settings
) -> PredictionResult:
    """One path or URL (the app's URL box)."""
    return predict_inputs(classifier, [source], top_k, settings, workers=1)[0]
