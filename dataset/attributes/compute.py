"""Compute missing attributes for many covers: worker processes, batches, bad files counted.

Each file is decoded once for all the extractors it lacks (decoding is a large share of the
cost of the cheap ones). Results are stored every ``BATCH`` files, so a killed run keeps what it
computed and the next one resumes; a second run over the same covers computes nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sleeve.core.catalog.db import Catalog
from sleeve.core.engine import Engine, LocalEngine
from sleeve.core.errors import SleeveError
from sleeve.core.images.intake import UNREADABLE, failure_reason
from sleeve.core.procs import available_cores
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar
from sleeve.dataset.attributes import store
from sleeve.dataset.attributes.base import Extractor, Values
from sleeve.dataset.attributes.decode import load_view
from sleeve.dataset.attributes.registry import EXTRACTORS

BATCH = 256  # files per stored batch: a kill loses at most a few seconds of work
_CHUNK = 8  # files per batch sent to a worker
_MIN_PARALLEL = 64  # below this, starting worker processes costs more than it saves

# sha256 -> extractor name -> values
Attributes = dict[str, dict[str, Values]]


@dataclass
class AttributeReport:
    cached: Counter[str] = field(default_factory=Counter)  # extractor -> covers already stored
    computed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> files
    skipped_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "cached": dict(sorted(self.cached.items())),
            "computed": dict(sorted(self.computed.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": self.skipped_examples,
        }

    def summary(self) -> str:
        names = sorted(set(self.cached) | set(self.computed))
        parts = [f"{n}: {self.computed[n]} computed, {self.cached[n]} cached" for n in names]
        skipped = sum(self.skipped.values())
        if skipped:
            why = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
            parts.append(f"{skipped} skipped ({why})")
        return "; ".join(parts) or "nothing to do"


_threads_limited = False


def _one_thread() -> None:
    """In a worker: one BLAS/OpenMP/torch thread, the pool itself uses the cores."""
    global _threads_limited
    if _threads_limited or multiprocessing.parent_process() is None:
        return
    from threadpoolctl import threadpool_limits

    # torch reads this when it is first imported (by the first torch extractor, later than
    # now): without it every worker would run one torch thread per core, fighting the others
    os.environ["OMP_NUM_THREADS"] = "1"
    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    _threads_limited = True


def _job(job: tuple[str, tuple[str, ...]]) -> tuple[dict[str, Values], str]:
    """({extractor: values}, "") or ({}, reason); never raises: one bad file never stops a run."""
    path, names = job
    _one_thread()
    try:
        view = load_view(path)
    except UNREADABLE as exc:
        return {}, failure_reason(exc, path)
    out: dict[str, Values] = {}
    for name in names:
        try:
            out[name] = EXTRACTORS[name].compute(view)
        except SleeveError:  # cannot load (missing package): the caller's check says which
            raise
        except Exception:  # an odd picture one extractor chokes on: counted, the rest stays
            return out, f"failed:{name}"
    return out, ""


def _batch(jobs: Sequence[tuple[str, tuple[str, tuple[str, ...]]]]) -> list[tuple[dict, str]]:
    """The engine's unit of work: ((sha256, (path, extractor names)), ...) -> _job's results."""
    return [_job(job) for _, job in jobs]


def ensure_attributes(
    catalog: Catalog,
    data_dir: Path,
    images: Iterable[tuple[str, str]],
    extractors: Sequence[Extractor],
    *,
    workers: int | None = None,
    progress: Progress = True,
    engine: Engine | None = None,
) -> tuple[Attributes, AttributeReport]:
    """Attributes of ``images`` ((sha256, path relative to the data dir)), computing the missing
    on ``engine`` (default: the local pool of ``workers``, one per core).

    Returns every requested extractor's values per sha256 (cached and new); files that cannot
    be read are left out and counted in the report by reason.
    """
    paths: dict[str, str] = {}
    for sha, rel in images:
        paths.setdefault(sha, rel)
    report = AttributeReport()
    result: Attributes = {sha: {} for sha in paths}
    todo: dict[str, list[str]] = {}
    for ex in extractors:
        have = store.cached(catalog, ex)
        for sha in paths:
            if sha in have:
                result[sha][ex.name] = have[sha]
                report.cached[ex.name] += 1
            else:
                todo.setdefault(sha, []).append(ex.name)
    jobs = [(sha, (str(Path(data_dir) / paths[sha]), tuple(names))) for sha, names in todo.items()]
    if engine is None:
        small = len(jobs) < _MIN_PARALLEL
        # torch extractors get fresh (spawned, not forked) workers: a forked child can hang
        # in the OpenMP state torch left in this process
        fresh = any(ex.uses_torch for ex in extractors)
        engine = LocalEngine(
            1 if small else workers or available_cores(), "spawn" if fresh else None
        )
    new: dict[str, list[tuple[str, Values]]] = {}

    def store_new() -> None:
        for name, rows in new.items():
            report.computed[name] += store.save(catalog, EXTRACTORS[name], rows)
        new.clear()

    bar = progress_bar(len(jobs), "attributes", progress=progress)
    try:
        with bar:
            for batch, done in engine.map_batches(_batch, jobs, _CHUNK):
                for (sha, _job_args), (values, reason) in zip(batch, done, strict=True):
                    bar.update()
                    if reason:
                        report.skipped[reason] += 1
                        if len(report.skipped_examples) < 5:
                            report.skipped_examples.append(paths[sha])
                    for name, doc in values.items():
                        result[sha][name] = doc
                        new.setdefault(name, []).append((sha, doc))
                if sum(len(rows) for rows in new.values()) >= BATCH:
                    store_new()
    finally:
        store_new()  # keep what was computed, even when interrupted
    return {sha: v for sha, v in result.items() if v}, report
