"""OpenVINO checks run in a fresh interpreter (``python openvino_probe.py CHECK``): each
starts from a process that has not run OpenVINO yet, asserts, and prints "ok"; a check that
crashes the process fails its test instead of the test session.
tests/dataset/test_ocr_runtime.py calls it.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.*

from sleeve.core.openvino_graph import OpenVinoModel, signal_stack
from sleeve.dataset.text import ocr, ocr_runtime
from tests.text_images import worded

WORDS = ("MADONNA", "VELVET", "NAS 1994")


def reads_as_the_library() -> None:
    """The same words, and confidences and boxes within a float32 rounding, as rapidocr on
    ONNX Runtime the way the library builds it."""
    from rapidocr_onnxruntime import RapidOCR

    wrapper = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    ours = ocr.build_engine(runtime="openvino")
    for word in WORDS:
        bgr = np.ascontiguousarray(np.asarray(worded(word, size=300))[:, :, ::-1])
        theirs, mine = wrapper(bgr)[0], ours(bgr)[0]
        assert [t for _, t, _ in mine] == [t for _, t, _ in theirs], (mine, theirs)
        assert np.allclose([s for *_, s in mine], [s for *_, s in theirs], atol=1e-3)
        assert np.allclose([b for b, *_ in mine], [b for b, *_ in theirs], atol=1.0)


def compiles_first_shapes() -> None:
    model = OpenVinoModel(ocr_runtime.model_paths()["det"], 1, static_shapes=1)
    a = np.zeros((1, 3, 64, 64), np.float32)
    b = np.zeros((1, 3, 96, 64), np.float32)
    first, again, other = model(a), model(a), model(b)
    assert first.shape[-2:] == (64, 64) and np.array_equal(first, again)
    assert other.shape[-2:] == (96, 64)
    assert set(model._graphs) == {(1, 3, 64, 64), None}


def threads_take_turns() -> None:
    """The app serves several sessions from threads; an infer request is not thread-safe, so
    each read must still get the answer for its own input."""
    model = OpenVinoModel(ocr_runtime.model_paths()["cls"], 1, 0)
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((1, 3, 48, 192)).astype(np.float32) for _ in range(8)]
    alone = [model(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(model, batches * 4))
    for i, out in enumerate(together):
        assert np.array_equal(out, alone[i % len(batches)])


def survives_a_signal_after_the_graph_is_freed_elsewhere() -> None:
    """The crash of openvino_graph's docstring, replayed: a graph run on this thread, freed from
    another thread, then a signal handled on this thread's signal stack (a SIGCHLD handler and
    a child exiting). Before the fix this process died with SIGSEGV here."""
    import faulthandler
    import gc
    import signal
    import subprocess
    import threading

    faulthandler.enable()  # a signal stack of its own on this thread, as pytest's
    before = signal_stack()
    holder = [OpenVinoModel(ocr_runtime.model_paths()["cls"], 1, 0)]
    holder[0](np.zeros((1, 3, 48, 192), np.float32))
    assert signal_stack() == before

    def free() -> None:
        holder.clear()
        gc.collect()

    t = threading.Thread(target=free)
    t.start()
    t.join()
    signal.signal(signal.SIGCHLD, lambda *_: None)
    out = subprocess.run([sys.executable, "-c", "print('child')"], capture_output=True, text=True)
    assert out.stdout.strip() == "child"


CHECKS = {
    f.__name__: f
    for f in (
        reads_as_the_library,
        compiles_first_shapes,
        threads_take_turns,
        survives_a_signal_after_the_graph_is_freed_elsewhere,
    )
}

if __name__ == "__main__":
    CHECKS[sys.argv[1]]()
    print("ok")
