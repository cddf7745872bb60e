"""The engine seam: where per-cover work (hash, words, attributes, embeddings) runs.

A stage hands the engine a module-level function that maps a *batch* of items to one result per
item, and the items (sha256 keys, store-relative paths: small and picklable). Workers read the
covers themselves; results come back to the driver, which alone writes the catalog, so SQLite
stays single-writer and PostgreSQL gets batched writes.

``local`` (the default) is today's pool of worker processes on this machine; ``ray`` (the
``sleeve[ray]`` extra) runs the same function as tasks on a Ray cluster. Both yield each batch's
results as the batch finishes, so a killed job keeps every batch the driver already stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Protocol, TypeVar

from sleeve.core.procs import worker_pool

if TYPE_CHECKING:
    pass

T = TypeVar("T")
R = TypeVar("R")

BatchFn = Callable[[Sequence[T]], list[R]]


class Engine(Protocol):
    """Runs ``fn`` over ``items`` in batches; yields ``(batch, results)`` as batches finish."""

    name: str
    workers: int

    def map_batches(
        self, fn: BatchFn[T, R], items: Sequence[T], batch_size: int
    ) -> Iterator[tuple[Sequence[T], list[R]]]: ...


class LocalEngine:
    """Worker processes on this machine (in-process when one worker or one batch)."""

    name = "local"

    def __init__(self, workers: int, start_method: str | None = "spawn") -> None:
        self.workers = max(1, workers)
        # spawn: workers run torch / onnxruntime, whose threads a forked child can deadlock on
        self.start_method = start_method

    def map_batches(
        self, fn: BatchFn[T, R], items: Sequence[T], batch_size: int
    ) -> Iterator[tuple[Sequence[T], list[R]]]:
        batches = [items[i : i + batch_size] for i in range(0, len(items), max(1, batch_size))]
        if self.workers == 1 or len(batches) <= 1:
            for batch in batches:
                yield batch, fn(batch)
            return
        pool = worker_pool(self.workers, self.start_method)
        try:
            pending: dict[Future[list[R]], Sequence[T]] = {}
            queue = iter(batches)
            for batch in queue:  # keep every worker busy with one batch in hand and one queued
                pending[pool.submit(fn, batch)] = batch
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = pending.pop(future)
                    yield batch, future.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt)] = nxt
        finally:
            # an interrupt (or the caller stopping early) drops queued batches
            pool.shutdown(wait=True, cancel_futures=True)
