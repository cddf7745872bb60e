"""The OCR engine sleeve builds reads what rapidocr's own wrapper reads, on generated covers."""

from __future__ import annotations

import numpy as np
import pytest

from sleeve.dataset.text import ocr
from tests.text_images import worded

pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")

WORDS = ("MADONNA", "VELVET", "NAS 1994")


def _bgr(word: str, size: int = 300) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(worded(word, size=size))[:, :, ::-1])


def _read(engine, bgr: np.ndarray) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    result, _ = engine(bgr)
    return [(str(text), round(float(score), 4)) for _, text, score in result or []]


# OpenVINO's twin of this check runs in a fresh interpreter (test_ocr_runtime.py)
RUNTIMES = ["onnxruntime"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_runtime_reads_as_the_library_wrapper(runtime: str) -> None:
    """The same words, and confidences and boxes within a float32 rounding (another runtime
    sums in another order), as rapidocr on ONNX Runtime the way the library builds it."""
    from rapidocr_onnxruntime import RapidOCR

    wrapper = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    ours = ocr.build_engine(runtime=runtime)
    for word in WORDS:
        bgr = _bgr(word)
        theirs, mine = wrapper(bgr)[0], ours(bgr)[0]
        assert [t for _, t, _ in mine] == [t for _, t, _ in theirs]
        assert np.allclose([s for *_, s in mine], [s for *_, s in theirs], atol=1e-3)
        assert np.allclose([b for b, *_ in mine], [b for b, *_ in theirs], atol=1.0)
    assert " ".join(w.text for w in ocr.read_pixels(_bgr("VELVET")[:, :, ::-1])) == "VELVET"


def test_a_cover_sized_detection_input_still_reads_big_words() -> None:
    """The benchmark's variant: detection at 480 px on the longer side, up or down."""
    sized = ocr.build_engine(det_side=480)
    for size in (300, 900):
        texts = [t for t, _ in _read(sized, _bgr("VELVET", size))]
        assert texts == ["VELVET"]
