"""Perceptual hashes of stored covers: computed once per (image, algorithm), cached in ImageHash.

Decoding is the cost, not hashing: a JPEG is decoded in draft mode straight to grayscale at
1/2..1/8 scale (the DCT does the downscaling), which is all a 32x32 pHash input needs and is
several times cheaper than a full decode. Files are hashed in worker processes in chunks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
from PIL import Image
from sqlalchemy import insert, select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import ImageHash
from sleeve.core.engine import Engine, LocalEngine
from sleeve.core.images.intake import UNREADABLE, failure_reason, open_image, to_8bit
from sleeve.core.procs import available_cores
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar

ALGOS = {"phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash}
DRAFT_SIDE = 64  # >= 2x the 32x32 pHash input; whash scales to the largest power of 2
_CHUNK = 64  # files per batch sent to a worker process
_MIN_PARALLEL = 200  # below this, starting worker processes costs more than it saves
# Hashes are committed to the catalog every HASH_BATCH files, so a killed build keeps what it
# computed (about a second of work on 2 cores is lost at most) and the next one resumes.
HASH_BATCH = 1024


@dataclass
class HashReport:
    """What the hashing step did: cached vs computed, and skipped files by reason."""

    algo: str
    cached: int = 0
    computed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_examples: list[str] = field(default_factory=list)  # a few paths, for the message

    def as_dict(self) -> dict[str, object]:
        return {
            "algo": self.algo,
            "cached": self.cached,
            "computed": self.computed,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": self.skipped_examples,
        }


def hash_image(path: str | Path, algo: str = "phash") -> str:
    """The 64-bit perceptual hash of an image file as 16 hex digits (OSError if unreadable)."""
    with open_image(path) as img:
        if img.format == "JPEG":
            img.draft("L", (DRAFT_SIDE, DRAFT_SIDE))
        gray = hash_input(img)
    return str(ALGOS[algo](gray))


def hash_input(img: Image.Image) -> Image.Image:
    """The grey picture a hash is computed on, from an opened (and for a JPEG, drafted) file."""
    if getattr(img, "is_animated", False):
        img.seek(0)
    img.load()
    return to_8bit(img).convert("L")  # 16-bit grey scaled, not clipped to white


def _hash_job(job: tuple[str, str]) -> tuple[str | None, str]:
    """(hex, "") or (None, reason); never raises, so one bad file never stops a chunk."""
    path, algo = job
    try:
        return hash_image(path, algo), ""
    except UNREADABLE as exc:
        return None, failure_reason(exc, path)


def hash_batch(jobs: Sequence[tuple[str, str]]) -> list[tuple[str | None, str]]:
    """The engine's batch function: (hex or None, skip reason) per (path, algo) job."""
    return [_hash_job(job) for job in jobs]


def hash_files(
    paths: Sequence[str | Path],
    algo: str = "phash",
    *,
    workers: int | None = None,
    progress: Progress = True,
    engine: Engine | None = None,
) -> list[tuple[str | None, str]]:
    """Hash ``paths`` on ``engine`` (default: the local pool of ``workers``, in-process for a
    few files); one (hex or None, skip reason) per path, in order."""
    if algo not in ALGOS:
        raise ValueError(f"unknown hash algorithm {algo!r}; choose one of {sorted(ALGOS)}")
    jobs = [(str(p), algo) for p in paths]
    if engine is None:
        small = len(jobs) < _MIN_PARALLEL
        # fork: hashing runs no torch/onnxruntime, and forked workers start at once
        engine = LocalEngine(1 if small else workers or available_cores(), start_method=None)
    found: dict[str, tuple[str | None, str]] = {}
    bar = progress_bar(len(jobs), algo, progress=progress)
    with bar:
        for batch, results in engine.map_batches(hash_batch, jobs, _CHUNK):
            found.update((path, result) for (path, _), result in zip(batch, results, strict=True))
            bar.update(len(batch))
    return [found[path] for path, _ in jobs]


def cached_hashes(catalog: Catalog, algo: str = "phash") -> dict[int, str]:
    """image id -> the ``algo`` hash stored by an earlier build (read-only)."""
    with catalog.session() as session:
        query = select(ImageHash.image_id, ImageHash.value).where(ImageHash.algo == algo)
        return dict(session.execute(query).all())


def ensure_hashes(
    catalog: Catalog,
    data_dir: Path,
    images: Iterable[tuple[int, str]],
    algo: str = "phash",
    *,
    workers: int | None = None,
    progress: Progress = True,
    engine: Engine | None = None,
) -> tuple[dict[int, str], HashReport]:
    """Hashes for ``images`` ((image id, path relative to data dir)), computing only the missing.

    New hashes are stored batch by batch (``HASH_BATCH`` files per transaction) as they are
    computed. Images whose file cannot be hashed are left out of the result and counted in the
    report by reason. ``engine`` (e.g. Ray) hashes in its workers; None or the local engine:
    this machine's forked pool (no torch in a hashing worker, so no spawn to pay for).
    """
    images = list(images)
    report = HashReport(algo)
    cached = cached_hashes(catalog, algo)
    result: dict[int, str] = {}
    todo: list[tuple[int, str]] = []
    for image_id, rel in images:
        if image_id in cached:
            result[image_id] = cached[image_id]
            report.cached += 1
        else:
            todo.append((image_id, rel))
    one_batch = len(todo) <= HASH_BATCH  # then hash_files' own bar; else one bar per batch step
    bar = progress_bar(len(todo), algo, progress=False if one_batch else progress)
    with bar:
        for start in range(0, len(todo), HASH_BATCH):
            batch = todo[start : start + HASH_BATCH]
            paths = [Path(data_dir) / rel for _, rel in batch]
            if engine is None or type(engine) is LocalEngine:  # not a subclass with its own ways
                hashed = hash_files(
                    paths,
                    algo,
                    workers=engine.workers if engine else workers,
                    progress=progress if one_batch else False,
                )
            else:
                hashed = hash_files(paths, algo, progress=False, engine=engine)
            bar.update(len(batch))
            new_rows = []
            for (image_id, rel), (value, reason) in zip(batch, hashed, strict=True):
                if value is None:
                    report.skipped[reason] += 1
                    if len(report.skipped_examples) < 5:
                        report.skipped_examples.append(rel)
                    continue
                result[image_id] = value
                new_rows.append({"image_id": image_id, "algo": algo, "value": value})
            if new_rows:
                with catalog.session() as session:
                    session.execute(insert(ImageHash), new_rows)
            report.computed += len(new_rows)
    return result, report
