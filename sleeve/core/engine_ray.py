"""The ``ray`` engine: per-cover batches as Ray tasks on a cluster (the ``sleeve[ray]`` extra).

Ray tasks rather than Ray Data: the seam is "a batch function over a list of small items,
results yielded per batch as they finish", which is one task per batch and ``ray.wait``.
Ray Data would add a streaming executor, Arrow/pandas batch formats and a planner for a job
that has no operator graph; tasks keep the driver in charge of order, back-pressure and
writes. A task whose worker process dies (``kill -9``, a node lost) is re-run by Ray up to
``max_retries`` times, so a lost worker loses nothing; an exception raised by the batch
function itself is not retried (it would fail again) and reaches the caller.

Workers import the batch function by module path: every node needs sleeve (and the stage's
extras) installed, and the covers at the same path (a shared volume), as with ``SLEEVE_DATA_DIR``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sleeve.core.engine import BatchFn
from sleeve.core.errors import ConfigError, UsageError
from sleeve.core.settings import ray_host_port

T = TypeVar("T")
R = TypeVar("R")

INSTALL_HINT = "pip install 'sleeve[ray]'"
MAX_RETRIES = 3  # re-runs of a task whose worker died
_CONNECT_SECONDS = 5.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--engine ray needs the ray extra ({INSTALL_HINT})") from None
    return ray


def _check_reachable(address: str) -> None:
    """One clear line now rather than Ray's minute of reconnect attempts."""
    target = ray_host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=_CONNECT_SECONDS).close()
    except OSError as exc:
        raise ConfigError(
            f"SLEEVE_RAY_ADDRESS={address}: no Ray cluster answers there "
            f"({exc.strerror or exc}); start one with `ray start --head` or fix the address"
        ) from None


class RayEngine:
    """Batches as Ray tasks, one CPU each; results yielded as tasks finish."""

    name = "ray"

    def __init__(self, address: str, *, max_retries: int = MAX_RETRIES) -> None:
        target = ray_host_port(address)
        if target is not None and target[0] in _LOOPBACK:
            # Ray swaps 127.0.0.1 for the machine's interface address unless told not to
            # (shared/docs/local-services.md), and reads this once, when it is imported
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray = _ray()
        _check_reachable(address)
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            except ConnectionError as exc:
                raise ConfigError(f"SLEEVE_RAY_ADDRESS={address}: {exc}") from None
        self.max_retries = max_retries
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map_batches(
        self, fn: BatchFn[T, R], items: Sequence[T], batch_size: int
    ) -> Iterator[tuple[Sequence[T], list[R]]]:
        ray = _ray()
        # the task is one module-level function taking ``fn`` as an argument: Ray cannot make
        # a task of a functools.partial (the per-cover pass binds its plan that way); the task
        # keeps the stage's name (Ray's worker process title, its dashboard)
        inner = getattr(fn, "func", fn)
        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(
            _apply
        ).options(name=getattr(inner, "__name__", "batch"))
        batches = [items[i : i + batch_size] for i in range(0, len(items), max(1, batch_size))]
        queue = iter(batches)
        pending: dict[Any, Sequence[T]] = {}

        def submit() -> None:
            batch = next(queue, None)
            if batch is not None:
                pending[task.remote(fn, batch)] = batch

        try:
            for _ in range(2 * self.workers):  # every CPU busy with one batch and one queued
                submit()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    batch = pending.pop(ref)
                    yield batch, ray.get(ref)
                    submit()
        finally:
            for ref in pending:  # the caller stopped early (or was interrupted)
                ray.cancel(ref)


def _apply(fn: BatchFn[T, R], batch: Sequence[T]) -> list[R]:
    """A Ray task's body: the stage's batch function on one batch."""
    return fn(batch)
