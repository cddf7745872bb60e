"""One pass over the covers for every per-cover stage a build needs: read and decode each once.

A build needs, per cover, its perceptual hash, the Lite0 embedding of the visual stage, the
words (OCR) and the cheap attributes. Run stage by stage, each one opens and decodes the file
again. Here one batch function reads a cover's bytes once and decodes them once per distinct
*decode*: each stage asks for the JPEG draft it always used (hash: grey at >= 64 px; embedding:
RGB at >= 224 px; attributes: RGB at >= 512 px; words: the full picture), and stages whose
request lands on the same DCT scale and mode share one decode (a 300 px cover: one RGB decode
for embedding, attributes and words, plus the tiny grey one for the hash). Each stage computes
on exactly the pixels it computed on before, so every cached value is the value the stage
alone would have stored.

The work runs through the engine (:mod:`sleeve.core.engine`); only the driver writes, into the
caches the stages already read (ImageHash, CoverText, CoverAttribute, the embedding cache), so
a killed pass keeps every finished batch and the stages after it find their caches warm.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sleeve.core.catalog.models import ImageHash
from sleeve.core.engine import Engine, LocalEngine
from sleeve.core.errors import SleeveError
from sleeve.core.images.intake import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_PIXELS,
    UNREADABLE,
    failure_reason,
    inspect_image,
    open_image,
    open_rgb,
    read_image_bytes,
)
from sleeve.core.procs import available_cores
from sleeve.core.progress import bar as progress_bar
from sleeve.dataset.attributes import store
from sleeve.dataset.attributes.decode import FACE_SIDE, view_of
from sleeve.dataset.attributes.registry import EXTRACTORS
from sleeve.dataset.dedup.hashing import ALGOS, DRAFT_SIDE, hash_input
from sleeve.dataset.dedup.visual import embedding_cache_root, visual_backbone
from sleeve.dataset.dedup.visual_settings import BACKBONE, IMAGE_SIZE
from sleeve.dataset.text.cover_text import cached_shas as words_cached
from sleeve.dataset.text.cover_text import store_words, words_row
from sleeve.dataset.text.ocr import dumps, engine_version, read_pixels

log = logging.getLogger(__name__)

BATCH = 16  # covers per engine batch: one network batch of embeddings
WRITE_EVERY = 512  # covers between writes of the embedding cache (it is rewritten whole)


@dataclass(frozen=True)
class Plan:
    """What to compute per cover: a hash algorithm, the Lite0 embedding recipe size, whether to
    read the words, and attribute extractor names."""

    hash_algo: str | None = None
    embed_size: int | None = None
    words: bool = False
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One cover: small and picklable (the worker reads the file itself)."""

    sha256: str
    path: str  # relative to the data dir
    image_id: int = 0
    hash: bool = False
    embed: bool = False
    words: bool = False
    attributes: tuple[str, ...] = ()


@dataclass
class Result:
    hash: str | None = None
    embedding: np.ndarray | None = None
    words: str | None = None  # JSON, as the OCR cache stores it
    attributes: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why the cover could not be read, or which stages failed on it
    decodes: int = 0  # pixel decodes of this cover (the test counts them)


class Picture:
    """A cover's bytes, decoded at most once per (mode, size, decoder setup)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._decoded: dict[str, Image.Image] = {}
        self.decodes = 0

    def _open(self) -> Image.Image:
        return open_image(self.data)  # the one door: signature and shape checked again

    def decoded(self, mode: str | None, side: int | None, finish: Callable) -> Image.Image:
        """The picture as ``finish(opened)`` after ``draft(mode, (side, side))`` (no draft when
        ``side`` is None): the stage's own decode, shared with stages that land on the same."""
        img = self._open()
        if side is not None and img.format == "JPEG":
            img.draft(mode, (side, side))
        key = f"{img.mode}:{img.size}:{getattr(img, 'tile', None)!r}:{finish.__name__}"
        if key not in self._decoded:
            self._decoded[key] = finish(img)
            self.decodes += 1
        return self._decoded[key]


def _grey(img: Image.Image) -> Image.Image:

    return hash_input(img)


def _rgb(img: Image.Image) -> Image.Image:
    return open_rgb(img)


@functools.cache
def _embedder(size: int) -> tuple[Callable, Callable]:
    import torch

    from sleeve.core.vision.backbones import eval_transform, load_backbone
    from sleeve.core.vision.embeddings import FeatureRecipe, extractor_for

    backbone = load_backbone(BACKBONE, "auto")
    recipe = FeatureRecipe(size)
    transform = eval_transform(size, backbone.mean, backbone.std, backbone.interpolation)
    return extractor_for(backbone, recipe, torch.device("cpu")), transform


def _one_cover(root: Path, plan: Plan, item: Item, tensors: list[Any]) -> Result:

    out = Result()
    path = root / item.path
    try:
        data = read_image_bytes(path, DEFAULT_MAX_FILE_BYTES)
        inspect_image(data, max_pixels=DEFAULT_MAX_PIXELS, min_side=1)
        picture = Picture(data)
        if item.hash:
            grey = picture.decoded("L", DRAFT_SIDE, _grey)
            out.hash = str(ALGOS[plan.hash_algo or "phash"](grey))
        if item.embed:
            size = plan.embed_size or 224
            _, transform = _embedder(size)
            tensors.append(transform(picture.decoded("RGB", size, _rgb)))
        if item.attributes:
            view = view_of(picture.decoded("RGB", FACE_SIDE, _rgb))
            for name in item.attributes:
                try:
                    out.attributes[name] = EXTRACTORS[name].compute(view)
                except Exception:  # an odd picture one extractor chokes on: counted
                    out.reason = ";".join(filter(None, (out.reason, f"failed:{name}")))
        if item.words:
            out.words = dumps(read_pixels(np.asarray(picture.decoded(None, None, _rgb))))
        out.decodes = picture.decodes
    except UNREADABLE as exc:
        out.reason = failure_reason(exc, str(path))
    return out


def run_batch(root: str, plan: Plan, items: Sequence[Item]) -> list[Result]:
    """The engine's unit of work: every planned stage of each cover, from one read."""
    _single_threaded()
    results: list[Result] = []
    tensors: list[Any] = []
    embedded: list[Result] = []
    for item in items:
        before = len(tensors)
        results.append(_one_cover(Path(root), plan, item, tensors))
        if len(tensors) > before:
            embedded.append(results[-1])
    if tensors:  # one network run for the batch's covers
        import torch

        extractor, _ = _embedder(plan.embed_size or 224)
        with torch.inference_mode():
            x = torch.stack(tensors).contiguous(memory_format=torch.channels_last)
            feats = extractor(x).float().numpy()
        for result, row in zip(embedded, feats, strict=True):
            result.embedding = row
    return results


@functools.cache
def _single_threaded() -> None:
    """In a worker of a pool: one thread per library, the pool uses the cores."""
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return  # in-process: the caller's threads
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    import torch

    torch.set_num_threads(1)


@dataclass
class PassReport:
    covers: int = 0
    computed: Counter[str] = field(default_factory=Counter)  # stage -> covers computed
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> covers
    decodes: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        done = ", ".join(f"{k} {v}" for k, v in sorted(self.computed.items()))
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        return (
            f"per-cover pass: {self.covers} covers in {self.seconds:.0f} s ({done or 'all cached'}"
            f"; {self.decodes} decodes{'; skipped ' + skipped if skipped else ''})"
        )


def default_engine(workers: int | None = None) -> Engine:
    return LocalEngine(workers or available_cores())


def run_pass(
    items: Sequence[Item],
    plan: Plan,
    root: Path,
    write: Callable[[Sequence[Item], list[Result]], None],
    *,
    engine: Engine | None = None,
    progress: bool = False,
) -> PassReport:
    """Run the planned stages of ``items`` on ``engine``; ``write`` stores each finished batch
    (it runs here, in the driver). Items with nothing to do are not sent."""

    report = PassReport()
    todo = [i for i in items if i.hash or i.embed or i.words or i.attributes]
    if not todo:
        return report
    engine = engine or default_engine()
    started = time.perf_counter()
    bar = progress_bar(len(todo), "covers", progress=progress)
    with bar:
        fn = functools.partial(run_batch, str(root), plan)
        for batch, results in engine.map_batches(fn, todo, BATCH):
            write(batch, results)
            for result in results:
                report.decodes += result.decodes
                for reason in filter(None, result.reason.split(";")):
                    report.skipped[reason] += 1  # "corrupt", "failed:faces-mtcnn", ...
            report.covers += len(batch)
            bar.update(len(batch))
    report.seconds = time.perf_counter() - started
    return report


def warm_build_caches(
    catalog: Any,
    data_dir: Path,
    images: Sequence[tuple[int, str, str]],
    *,
    hash_algo: str | None,
    embed: bool,
    words: bool,
    attributes: Sequence[str],
    engine: Engine | None = None,
    progress: bool = False,
) -> PassReport:
    """Fill the build's caches for ``images`` ((image id, sha256, relative path)) in one pass:
    the hashes of ``hash_algo``, the visual stage's Lite0 embeddings (``embed``), the words
    (``words``) and the ``attributes`` (extractor names), each only where it is missing."""
    from sqlalchemy import insert, select

    have_hash: set[int] = set()
    if hash_algo:
        with catalog.session() as s:
            query = select(ImageHash.image_id).where(ImageHash.algo == hash_algo)
            have_hash = set(s.execute(query).scalars())
    version = engine_version() if words else None
    have_words = words_cached(catalog, version) if version else set()
    have_attrs = {name: set(store.cached(catalog, EXTRACTORS[name])) for name in attributes}
    cache = _embedding_cache(data_dir) if embed else None
    have_embed = cache.shas() if cache else set()
    items, seen = [], set()
    for image_id, sha, rel in images:
        first = sha not in seen  # a sha256 stored at two paths: content stages run once
        seen.add(sha)
        items.append(
            Item(
                sha,
                rel,
                image_id,
                hash=bool(hash_algo) and image_id not in have_hash,
                embed=first and cache is not None and sha not in have_embed,
                words=first and version is not None and sha not in have_words,
                attributes=tuple(n for n in attributes if first and sha not in have_attrs[n]),
            )
        )
    plan = Plan(hash_algo, cache.size if cache else None, version is not None, tuple(attributes))
    if cache and any(i.embed for i in items):
        _embedder(cache.size)  # export the graph here once, not in every worker at the same time
    # the style network likewise when workers may start together, on more than one batch
    # (one batch runs here and loads it only on a readable cover; MTCNN needs no export)
    if sum(1 for i in items if i.hash or i.embed or i.words or i.attributes) > BATCH:
        for name in attributes:
            load = EXTRACTORS[name].load
            if load is not None and any(name in i.attributes for i in items):
                load()
    report = PassReport()
    pending_feats: tuple[list[str], list[np.ndarray]] = ([], [])

    def write(batch: Sequence[Item], results: list[Result]) -> None:
        hashes, texts, attrs = [], [], {n: [] for n in attributes}  # type: ignore[var-annotated]
        for item, result in zip(batch, results, strict=True):
            if item.hash and result.hash is not None:
                hashes.append({"image_id": item.image_id, "algo": hash_algo, "value": result.hash})
            if item.words and result.words is not None and version:
                texts.append(words_row(item.sha256, version, result.words))
            for name, values in result.attributes.items():
                attrs[name].append((item.sha256, values))
            if item.embed and result.embedding is not None:
                pending_feats[0].append(item.sha256)
                pending_feats[1].append(result.embedding)
        if hashes:
            with catalog.session() as s:
                s.execute(insert(ImageHash), hashes)
        if texts and version:
            store_words(catalog, version, texts)
        for name, rows in attrs.items():
            store.save(catalog, EXTRACTORS[name], rows)
        if cache and len(pending_feats[0]) >= WRITE_EVERY:
            report.computed["embedding"] += cache.add(*pending_feats)
            pending_feats[0].clear()
            pending_feats[1].clear()
        for kind, n in (("hash", len(hashes)), ("words", len(texts))):
            if n:
                report.computed[kind] += n
        for name, rows in attrs.items():
            if rows:
                report.computed[name] += len(rows)

    try:
        done = run_pass(items, plan, data_dir, write, engine=engine, progress=progress)
    finally:
        if cache and pending_feats[0]:  # keep what was computed, even when interrupted
            report.computed["embedding"] += cache.add(*pending_feats)
    report.covers, report.skipped, report.decodes = done.covers, done.skipped, done.decodes
    report.seconds = done.seconds
    return report


@dataclass
class _EmbeddingCache:
    """The visual stage's embedding cache (Lite0, plain recipe), as the stage itself keys it."""

    root: Path
    backbone: Any
    recipe: Any
    size: int

    def shas(self) -> set[str]:
        from sleeve.core.vision.embeddings import cached_shas

        return cached_shas(self.root, self.backbone, self.recipe)

    def add(self, shas: list[str], feats: list[np.ndarray]) -> int:
        from sleeve.core.vision.embeddings import add_to_cache

        return add_to_cache(self.root, self.backbone, self.recipe, shas, np.stack(feats))


def _embedding_cache(data_dir: Path) -> _EmbeddingCache | None:
    """None when the visual stage could not run here (no OpenCV, no torch, no weights): the
    stage then says why itself."""

    try:
        import cv2  # noqa: F401  (the stage's geometric check)

        from sleeve.core.vision.embeddings import FeatureRecipe

        backbone = visual_backbone()
    except (ImportError, SleeveError):
        return None
    return _EmbeddingCache(
        embedding_cache_root(data_dir), backbone, FeatureRecipe(size=IMAGE_SIZE), IMAGE_SIZE
    )
