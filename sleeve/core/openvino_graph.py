"""One ONNX file on OpenVINO's CPU plugin, safe to call from any thread of a Python process.

Used for the OCR's models (:mod:`sleeve.dataset.text.ocr_runtime`) and the Lite backbones'
graphs (:mod:`sleeve.core.vision.runtime`). Compiled in full float32: on CPUs with bf16 units
(this machine's AMD EPYC) OpenVINO would otherwise compute in bf16, about twice as fast but with
outputs that move (other OCR words on about half the covers).

OpenVINO's CPU plugin gives the thread that runs a graph an alternate signal stack of its own
and frees it with the graph. When the graph was freed from another thread, the reading thread
kept pointing at freed memory, and the next signal handled on that stack (Python installs its
handlers with ``SA_ONSTACK``; a ``SIGCHLD`` handler and a child exiting were enough) killed the
process with SIGSEGV. Every call here therefore puts the calling thread's own signal stack back
afterwards (:func:`kept_signal_stack`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np


@functools.cache  # the installed packages do not change while the process runs
def openvino_version() -> str | None:
    try:
        return metadata.version("openvino")
    except metadata.PackageNotFoundError:
        return None


class _SignalStack(ctypes.Structure):  # stack_t (sigaltstack(2))
    _fields_ = [
        ("ss_sp", ctypes.c_void_p),
        ("ss_flags", ctypes.c_int),
        ("ss_size", ctypes.c_size_t),
    ]


_SS_ONSTACK = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def signal_stack() -> tuple[int | None, int, int]:
    """This thread's alternate signal stack: (address, size, flags); (None, 0, 0) off Linux."""
    stack = _SignalStack()
    if _LIBC is None or _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None, 0, 0
    return stack.ss_sp, stack.ss_size, stack.ss_flags


@contextlib.contextmanager
def kept_signal_stack() -> Iterator[None]:
    """Run the block, then give this thread back the alternate signal stack it had: OpenVINO's
    CPU plugin installs its own on the thread that runs a graph, freed with the graph, which
    may be freed from another thread (module docstring)."""
    before = _SignalStack()
    if _LIBC is None or _LIBC.sigaltstack(None, ctypes.byref(before)) != 0:
        yield
        return
    try:
        yield
    finally:
        if not before.ss_flags & _SS_ONSTACK:  # inside a handler on it: cannot be swapped
            _LIBC.sigaltstack(ctypes.byref(before), None)


class OpenVinoModel:
    """One ONNX file on OpenVINO: a dynamic-shape graph, plus graphs compiled for the first
    ``static_shapes`` input shapes seen (compiling one takes a fraction of a second)."""

    def __init__(self, path: Path, threads: int, static_shapes: int) -> None:
        import openvino as ov

        self._core = ov.Core()
        self._model = self._core.read_model(str(path))
        self._config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": "f32",  # bf16 moves the outputs (module doc)
            "PERFORMANCE_HINT": "LATENCY",
            "CPU_DENORMALS_OPTIMIZATION": True,
        }
        self._static_left = static_shapes
        self._lock = threading.Lock()
        self._graphs: dict[tuple[int, ...] | None, tuple[Any, Any]] = {}

    def _compile(self, shape: tuple[int, ...] | None) -> tuple[Any, Any]:
        """(infer request, output port) of the graph for ``shape`` (None: dynamic shapes)."""
        model = self._model
        if shape is not None:
            model = model.clone()
            model.reshape(list(shape))
        compiled = self._core.compile_model(model, "CPU", self._config)
        return compiled.create_infer_request(), compiled.output(0)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        # one infer request per graph, and requests are not thread-safe (ONNX Runtime's run
        # is): the app may read two covers at once from two threads, so reads take turns
        with self._lock, kept_signal_stack():
            key: tuple[int, ...] | None = tuple(batch.shape)
            if key not in self._graphs:
                if self._static_left > 0:
                    self._static_left -= 1
                else:
                    key = None
                if key not in self._graphs:
                    self._graphs[key] = self._compile(key)
            request, output = self._graphs[key]
            # the request reuses its output buffer on the next call: the caller keeps a copy
            return request.infer({0: batch})[output].copy()
