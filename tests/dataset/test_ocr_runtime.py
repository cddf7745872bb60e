"""The OCR runtime choice and the exact detection normalisation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sleeve.core import openvino_graph
from sleeve.core.errors import ConfigError, UsageError
from sleeve.core.settings import load_settings
from sleeve.dataset.text import ocr_runtime

pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")


def test_auto_means_openvino_when_installed_else_onnxruntime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocr_runtime, "openvino_version", lambda: "2026.4.1")
    assert ocr_runtime.resolve("auto") == "openvino"
    monkeypatch.setattr(ocr_runtime, "openvino_version", lambda: None)
    assert ocr_runtime.resolve("auto") == "onnxruntime"
    assert ocr_runtime.resolve("onnxruntime") == "onnxruntime"


def test_openvino_asked_for_but_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocr_runtime, "openvino_version", lambda: None)
    with pytest.raises(UsageError, match=r"sleeve\[ocr\]"):
        ocr_runtime.resolve("openvino")


def test_an_unknown_runtime_is_refused_in_the_settings_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="onnxruntime") as info:
        load_settings({"SLEEVE_OCR_RUNTIME": "tensorrt"}, env_file=None)
    assert "SLEEVE_OCR_RUNTIME" in str(info.value)
    with pytest.raises(UsageError, match="openvino"):
        ocr_runtime.resolve("tensorrt")


@pytest.mark.parametrize("shape", [(736, 736, 3), (37, 1216, 3), (1, 1, 3)])
def test_the_lookup_normalisation_is_bit_identical_to_the_library(
    shape: tuple[int, int, int],
) -> None:
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    img = np.random.default_rng(len(shape) + shape[0]).integers(0, 256, shape, dtype=np.uint8)
    for mean, std in (
        ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ):
        library = DetPreProcess(736, "min", mean, std)
        fast = DetPreProcess(736, "min", mean, std)
        ocr_runtime.exact_normalize(fast)
        want = np.expand_dims(library.permute(library.normalize(img)), 0).astype(np.float32)
        got = np.expand_dims(fast.permute(fast.normalize(img)), 0).astype(np.float32)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_ocr_threads_follow_where_the_reading_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from sleeve.core.procs import available_cores
    from sleeve.dataset.text import ocr

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert ocr.engine_threads() == available_cores()  # reading alone: every core
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a scheduler's share (Ray sets it per task)
    assert ocr.engine_threads() == 3
    # a pool's worker: one (the pool is made in a fresh interpreter, so the answer does not
    # depend on what earlier tests left in this process)
    probe = (
        "from sleeve.core.procs import worker_pool\n"
        "from sleeve.dataset.text import ocr\n"
        "if __name__ == '__main__':\n"
        "    with worker_pool(1, start_method='spawn') as pool:\n"
        "        print(pool.submit(ocr.engine_threads).result(timeout=120))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=True
    )
    assert out.stdout.split() == ["1"]


PROBE = Path(__file__).with_name("openvino_probe.py")


@pytest.mark.skipif(sys.platform != "linux", reason="sigaltstack through glibc")
def test_a_call_gives_the_thread_back_its_own_signal_stack() -> None:
    """What OpenVINO does to the reading thread's signal stack is undone after each call."""
    import ctypes

    before = openvino_graph.signal_stack()
    other = ctypes.create_string_buffer(64 * 1024)
    with openvino_graph.kept_signal_stack():
        stack = openvino_graph._SignalStack(ctypes.addressof(other), 0, len(other))
        assert openvino_graph._LIBC.sigaltstack(ctypes.byref(stack), None) == 0
        assert openvino_graph.signal_stack()[0] == ctypes.addressof(other)
    assert openvino_graph.signal_stack() == before


@pytest.mark.skipif(ocr_runtime.openvino_version() is None, reason="OpenVINO is not installed")
@pytest.mark.parametrize(
    "check",
    [
        "reads_as_the_library",
        "compiles_first_shapes",
        "threads_take_turns",
        "survives_a_signal_after_the_graph_is_freed_elsewhere",
    ],
)
def test_openvino_in_a_fresh_interpreter(check: str) -> None:
    """OpenVINO reads as the library's wrapper; compiles the first shapes and serves the rest
    dynamically; serves concurrent reads each their own answer; leaves no dangling signal
    stack (the crash of openvino_graph's docstring: a crash kills the probe, not this session)."""
    out = subprocess.run(
        [sys.executable, str(PROBE), check], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok"]
