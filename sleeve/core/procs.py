"""Child processes that cannot outlive the command that started them.

A ``kill -9`` gives a process no chance to stop its workers, so each worker arranges its own
end when it starts. On Linux that is ``prctl(PR_SET_PDEATHSIG)``: the kernel signals the
worker the moment its parent dies, whatever the worker is doing (blocked in ``open()``, deep in
a C decoder), at no cost per task. A thread polling the parent's pid would need a wake-up
interval, and still be late by up to that. Elsewhere (macOS, BSD) that polling thread is the
fallback.

PDEATHSIG follows the *thread* that created the child: pools here are created and fed from the
command's main thread, which outlives them. It survives ``exec``, so a launched program (the
Streamlit server) is covered too.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from sleeve.core.fsutil import pid_alive

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_SECONDS = 1.0


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Call first thing in a child: it gets ``sig`` when ``parent_pid`` dies.

    ``parent_pid`` is the creator's pid, taken before the child started: if the creator died
    in between, the child exits at once instead of waiting for a signal that will never come.
    (Under the ``forkserver`` start method the direct parent is the fork server, which exits
    when the creator does; hence the pid is checked as well as the parent.)
    """
    armed = sys.platform == "linux" and _set_pdeathsig(sig)
    if os.getppid() != parent_pid and not pid_alive(parent_pid):  # checked after arming: no gap
        os._exit(1)
    if armed:
        return
    watched = os.getppid()

    def watch() -> None:
        while os.getppid() == watched:
            time.sleep(_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _set_pdeathsig(sig: int) -> bool:
    try:
        # dlopen(NULL): the symbols already loaded, libc's among them. No library search (which
        # may run ldconfig), so this is safe between fork and exec as well.
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def available_cores() -> int:
    """The cores this process may use (sched_getaffinity honours container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _start_worker(parent_pid: int, then: Callable[[], None] | None) -> None:
    die_with_parent(parent_pid)  # first, so a hang in ``then`` cannot outlive the parent
    if then is not None:
        then()


def worker_pool(
    workers: int,
    start_method: str | None = None,
    initializer: Callable[[], None] | None = None,
) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process, even under ``kill -9``.

    The one place the product makes a process pool (``tests/core/test_pools.py`` checks that no
    other module constructs one), so no pool can miss the guard.

    ``start_method="spawn"``: for workers that run torch or other OpenMP code after this
    process already did; a forked child can hang in libgomp's inherited state. (Not
    "forkserver": after a ``kill -9`` of this process the server and its workers stayed up.)
    ``initializer``: a picklable module-level function each worker runs after arming the
    guard (e.g. OCR's one-thread OpenCV setting).
    """
    context = multiprocessing.get_context(start_method) if start_method else None
    return ProcessPoolExecutor(
        max_workers=workers,
        initializer=_start_worker,
        initargs=(os.getpid(), initializer),
        mp_context=context,
    )


def loader_worker_init(parent_pid: int, _worker_id: int) -> None:
    """``DataLoader(worker_init_fn=functools.partial(loader_worker_init, os.getpid()))``."""
    die_with_parent(parent_pid)


def loader_worker_init_fn() -> functools.partial[None]:
    """The ``worker_init_fn`` for a torch DataLoader created by this process."""
    return functools.partial(loader_worker_init, os.getpid())
