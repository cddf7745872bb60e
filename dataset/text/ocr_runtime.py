"""The runtime under the OCR's three ONNX models (detection, angle, recognition).

rapidocr-onnxruntime runs its models on ONNX Runtime. The same files also run on OpenVINO's
CPU plugin, which reads them faster here with the same words (benchmarks/stages.py,
docs/performance.md). Either way the models, sizes and thresholds are the library's, so the
words are those the text rung was validated on:

- ``openvino``: each model compiled in full float32. ``INFERENCE_PRECISION_HINT`` is pinned
  to f32 because on CPUs with bf16 units (this machine's AMD EPYC) OpenVINO would otherwise
  compute in bf16, about twice as fast but with other words on about half the covers. The
  detection network gets a graph compiled for each of the first few input shapes it sees
  (covers of one size all detect at one shape), faster than the dynamic-shape graph that
  serves every other shape.
- ``onnxruntime``: rapidocr's own session options, plus denormals flushed to zero (tiny
  activations that the CPU handles on a slow path; the words are the same).
- ``auto`` (the default, setting ``SLEEVE_OCR_RUNTIME``): OpenVINO when it is installed (it
  comes with the ``ocr`` extra), else ONNX Runtime.

Every OpenVINO call goes through :class:`sleeve.core.openvino_graph.OpenVinoModel`, which
also guards the calling thread's signal stack (the crash its docstring describes).

Detection's input normalisation is also replaced by a lookup table computed with the
library's own arithmetic, so the network sees bit-identical inputs at a tenth of the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sleeve.core.errors import UsageError
from sleeve.core.openvino_graph import OpenVinoModel, openvino_version
from sleeve.core.settings import OCR_RUNTIMES as RUNTIMES

INSTALL_HINT = "pip install 'sleeve[ocr]'"  # the extra brings OpenVINO beside the engine
STATIC_SHAPES = 4  # detection input shapes compiled to their own graph; later ones run dynamic

Runner = Callable[[np.ndarray], list[np.ndarray]]


def resolve(choice: str) -> str:
    """The runtime a choice means here (``auto``: OpenVINO when it is installed, else ONNX
    Runtime; see the module doc)."""
    if choice not in RUNTIMES:
        raise UsageError(f"SLEEVE_OCR_RUNTIME={choice!r}: valid values are {', '.join(RUNTIMES)}")
    if choice == "auto":
        return "openvino" if openvino_version() is not None else "onnxruntime"
    if choice == "openvino" and openvino_version() is None:
        raise UsageError(f"SLEEVE_OCR_RUNTIME=openvino needs OpenVINO: {INSTALL_HINT}")
    return choice


def model_paths() -> dict[str, Path]:
    """The wheel's three model files, by stage (det, cls, rec), as rapidocr resolves them."""
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
    return {stage: Path(config[key]["model_path"]) for stage, key in _STAGES.items()}


_STAGES = {"det": "Det", "cls": "Cls", "rec": "Rec"}


def attach(engine: Any, runtime: str, threads: int = 1) -> None:
    """Run ``engine``'s (a RapidOCR) models on ``runtime`` with ``threads`` each, in place.

    The runners replace the wrapper's session objects where it calls them; the recognition
    session's other use (the character list) happens when the wrapper is built, before this.
    """
    paths = model_paths()
    make = _openvino_runner if runtime == "openvino" else _onnxruntime_runner
    engine.text_det.infer = make(paths["det"], threads, STATIC_SHAPES)
    engine.text_cls.infer = make(paths["cls"], threads, 0)
    engine.text_rec.session = make(paths["rec"], threads, 0)
    sized = engine.text_det.get_preprocess  # a new DetPreProcess per picture

    def get_preprocess(longest: int) -> Any:
        preprocess = sized(longest)
        exact_normalize(preprocess)
        return preprocess

    engine.text_det.get_preprocess = get_preprocess


def _onnxruntime_runner(path: Path, threads: int, _static_shapes: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()  # rapidocr's options (utils/infer_engine.py), plus DAZ
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> list[np.ndarray]:
        return list(session.run(None, {name: batch}))

    return run


def _openvino_runner(path: Path, threads: int, static_shapes: int) -> Runner:
    return _OpenVinoRunner(OpenVinoModel(path, threads, static_shapes))


class _OpenVinoRunner:
    """A model's output as the wrapper expects it (a list); ``model`` stays reachable."""

    def __init__(self, model: OpenVinoModel) -> None:
        self.model = model

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return [self.model(batch)]


def exact_normalize(preprocess: Any) -> None:
    """Swap ``preprocess.normalize`` (rapidocr's DetPreProcess: float64 arithmetic over the
    whole picture) for per-channel lookup tables made by calling the original on every byte
    value: the same float32 values the wrapper passed on, bit for bit, at a tenth of the cost."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)
    table = np.asarray(preprocess.normalize(ramp), dtype=np.float32)[:, 0, :]  # (256, 3)

    def normalize(img: np.ndarray) -> np.ndarray:
        return np.stack([np.take(table[:, c], img[:, :, c]) for c in range(3)], axis=2)

    preprocess.normalize = normalize
