"""One inference path per network: the eager PyTorch extractor, or its exported graph.

Every consumer of cover features (the build's visual stage, training's embedding caches,
``predict``, the app, ``sleeve analyze``, the style attributes) asks :func:`feature_extractor`
for a callable ``image batch (N, 3, S, S) -> features (N, D)`` and gets

- ``torch``: the eager :class:`~sleeve.core.vision.embeddings.FeatureExtractor`, the reference;
- ``onnxruntime``: the same extractor exported once to an ONNX graph and run by ONNX Runtime's
  CPU provider (on the shared 2-core machine about 2-3x the covers/s of eager, see
  docs/performance.md);
- ``openvino``: the same ONNX graph compiled by OpenVINO's CPU plugin in full float32
  (:mod:`sleeve.core.openvino_graph`; it comes with the ``ocr`` extra), whose network ran about
  a quarter faster than ONNX Runtime's here.

``auto`` (the default, setting ``SLEEVE_INFERENCE``) takes the one measured fastest on this
machine: when a graph is exported, every path runs the same random batch, a graph must agree
with eager (cosine >= :data:`MIN_COSINE` on every row) and the verdict, with the timings, is kept
beside the graph. On a GPU, or without onnxruntime, eager runs.

Graphs live in the user's cache folder (``$XDG_CACHE_HOME/sleeve/graphs``), keyed by the
backbone, the feature recipe, the sha256 of the weights, the input size, the opset and the
onnxruntime version: new weights (a fine-tuned model, another wheel) get a new graph, and an
upgrade of the runtime re-exports. Files are written atomically, so concurrent processes at
worst export twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sleeve.core.errors import ConfigError
from sleeve.core.fsutil import atomic_path, atomic_write
from sleeve.core.openvino_graph import OpenVinoModel, openvino_version

if TYPE_CHECKING:  # torch is imported where it runs: load_settings() imports this module
    import torch
    from torch import nn

log = logging.getLogger(__name__)

ENGINES = ("auto", "onnxruntime", "openvino", "torch")
OPSET = 17
GRAPH_FORMAT = 1  # bump when the export itself changes (input layout, names)
MIN_COSINE = 0.999  # the graph must reproduce eager features this closely, or it is not used
_PROBE_BATCH = 4  # images per timing run when choosing the engine
_PROBE_RUNS = 2

Extractor = Callable[["torch.Tensor"], "torch.Tensor"]

_choice = "auto"  # process-wide, from Settings.inference (configure())
_sessions: dict[tuple[str, int], Any] = {}  # one ONNX Runtime session per graph and thread count
_compiled: dict[tuple[str, int], OpenVinoModel] = {}  # and one OpenVINO model
STATIC_SHAPES = 3  # batch shapes OpenVINO compiles a graph for (the probe's, full, last)


def configure(choice: str) -> None:
    """Set the process's inference engine (one of :data:`ENGINES`)."""
    global _choice
    if choice not in ENGINES:
        raise ConfigError(f"SLEEVE_INFERENCE={choice!r}: valid values are {', '.join(ENGINES)}")
    _choice = choice


def current_choice() -> str:
    return _choice


def onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def graph_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sleeve" / "graphs"


def weights_digest(module: nn.Module) -> str:
    """sha256 of a module's tensors (names, shapes and bytes), whatever their memory layout."""
    import torch

    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def graph_key(name: str, recipe_key: str, digest: str, size: int) -> str:
    """File-name key of one exported graph: what it computes and what runs it."""
    ort = onnxruntime_version() or "none"
    return f"{name}-{recipe_key}-{digest[:16]}-{size}px-opset{OPSET}-ort{ort}-g{GRAPH_FORMAT}"


@dataclass(frozen=True)
class Verdict:
    """Which engine ran faster on this machine when the graph was made, and how close it was."""

    engine: str
    eager_ms: float  # median ms per probe batch
    onnx_ms: float
    cosine: float  # lowest cosine between the two paths' features on the probe batch
    cpu: str
    threads: int
    openvino_ms: float | None = None  # None: OpenVINO was not installed when measured
    openvino_cosine: float | None = None


def export_graph(extractor: nn.Module, size: int, path: Path) -> None:
    """Write ``extractor`` as an ONNX graph (batch axis dynamic) to ``path``, atomically."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, size, size)
    with (
        atomic_path(path, suffix=".onnx") as tmp,
        warnings.catch_warnings(),
        torch.no_grad(),
    ):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            extractor,
            (dummy,),
            str(tmp),
            input_names=["image"],
            output_names=["features"],
            dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs only `onnx`, not onnxscript
        )


def session(path: Path, threads: int) -> Any:
    """The process's ONNX Runtime session for ``path`` (created on first use)."""
    key = (str(path), threads)
    if key not in _sessions:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        _sessions[key] = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    return _sessions[key]


def _numpy_batch(x: torch.Tensor) -> np.ndarray:
    """A graph's input: float32, on the CPU, C-contiguous (a channels-last tensor is not)."""
    return np.ascontiguousarray(x.detach().cpu().float().numpy())


class OnnxExtractor:
    """The exported extractor behind the eager one's call signature."""

    engine = "onnxruntime"

    def __init__(self, path: Path, threads: int) -> None:
        self.path = path
        self.session = session(path, threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.session.run(None, {"image": _numpy_batch(x)})[0])


class OpenVinoExtractor:
    """The exported extractor on OpenVINO behind the eager one's call signature."""

    engine = "openvino"

    def __init__(self, path: Path, threads: int) -> None:
        self.path = path
        key = (str(path), threads)
        if key not in _compiled:
            _compiled[key] = OpenVinoModel(path, threads, STATIC_SHAPES)
        self.model = _compiled[key]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.model(_numpy_batch(x)))


GraphExtractor = OnnxExtractor | OpenVinoExtractor  # an exported graph: its input size is fixed


def _timed(fn: Extractor, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    out = fn(x)  # warm-up (and the output compared)
    times = []
    for _ in range(_PROBE_RUNS):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    import platform

    return platform.processor() or platform.machine()


def measure(eager: nn.Module, onnx: OnnxExtractor, size: int, threads: int) -> Verdict:
    """Run both paths on one seeded random batch: agreement and median time of each."""
    import torch

    with torch.inference_mode():
        return _measure(eager, onnx, size, threads)


def _measure(eager: nn.Module, onnx: OnnxExtractor, size: int, threads: int) -> Verdict:
    import torch
    from torch import nn

    x = torch.rand(_PROBE_BATCH, 3, size, size, generator=torch.Generator().manual_seed(0))
    x = (x - 0.5) / 0.5
    eager_ms, ref = _timed(lambda b: eager(b.contiguous(memory_format=torch.channels_last)), x)

    def timed_agreement(graph: Extractor) -> tuple[float, float]:
        ms, out = _timed(graph, x)
        return ms, float(nn.functional.cosine_similarity(ref.float(), out, dim=1).min())

    onnx_ms, cosine = timed_agreement(onnx)
    times = {"torch": eager_ms}
    if cosine >= MIN_COSINE:
        times["onnxruntime"] = onnx_ms
    openvino_ms = openvino_cosine = None
    if openvino_version() is not None:
        try:
            openvino_ms, openvino_cosine = timed_agreement(OpenVinoExtractor(onnx.path, threads))
        except RuntimeError as exc:  # a graph OpenVINO cannot compile: the other two remain
            log.warning("OpenVINO could not run %s (%s)", onnx.path.name, exc)
            openvino_ms, openvino_cosine = float("inf"), 0.0
        if openvino_cosine >= MIN_COSINE:
            times["openvino"] = openvino_ms
    return Verdict(
        min(times, key=times.__getitem__),
        round(eager_ms, 1),
        round(onnx_ms, 1),
        cosine,
        cpu_model(),
        threads,
        None if openvino_ms is None else round(openvino_ms, 1),
        openvino_cosine,
    )


def _default_threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def exported_graph(
    extractor: nn.Module,
    key: str,
    size: int,
    *,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> tuple[Path, int, Verdict]:
    """The graph file for ``key`` (exported and measured against eager on first use), the
    thread count it runs with, and the verdict kept beside it."""
    threads = threads or _default_threads()
    folder = cache_dir or graph_cache_dir()
    path, meta = folder / f"{key}.onnx", folder / f"{key}.json"
    if not path.is_file():
        log.info("exporting %s to ONNX (once per weights and runtime version)", key)
        export_graph(extractor, size, path)
    verdict = _read_verdict(meta)
    if verdict is None or (verdict.openvino_ms is None and openvino_version() is not None):
        # never measured, or measured before OpenVINO was installed
        verdict = measure(extractor, OnnxExtractor(path, threads), size, threads)
        atomic_write(meta, json.dumps(asdict(verdict), indent=1) + "\n")
        _release_unpicked(path, threads, verdict.engine)
    return path, threads, verdict


def _release_unpicked(path: Path, threads: int, picked: str) -> None:
    """Free the runtimes the probe loaded that the verdict did not pick (a process serves
    one engine per graph; keeping the others costs memory in every worker)."""
    key = (str(path), threads)
    if picked != "onnxruntime":
        _sessions.pop(key, None)
    if picked != "openvino":
        _compiled.pop(key, None)


def _read_verdict(meta: Path) -> Verdict | None:
    try:
        return Verdict(**json.loads(meta.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def feature_extractor(
    extractor: nn.Module,
    name: str,
    recipe_key: str,
    size: int,
    device: torch.device,
    *,
    threads: int | None = None,
    engine: str | None = None,
) -> Extractor:
    """The callable that computes ``extractor``'s features on ``device`` with the engine chosen
    (``engine`` or the process's setting): eager on a GPU, when onnxruntime is absent, or when
    the graph cannot be made (logged once)."""
    choice = engine or _choice
    if choice == "openvino" and openvino_version() is None:
        raise ConfigError("SLEEVE_INFERENCE=openvino needs OpenVINO: pip install 'sleeve[ocr]'")
    if choice == "torch" or device.type != "cpu" or onnxruntime_version() is None:
        if choice in ("onnxruntime", "openvino") and onnxruntime_version() is None:
            raise ConfigError(f"SLEEVE_INFERENCE={choice} needs onnxruntime: pip install it")
        return extractor
    key = graph_key(name, recipe_key, weights_digest(extractor), size)
    try:
        path, threads, verdict = exported_graph(extractor, key, size, threads=threads)
        # only the engine that runs is loaded (a graph that will not load falls back below)
        picked = verdict.engine if choice == "auto" else choice
        if picked == "openvino":
            return OpenVinoExtractor(path, threads)
        if picked == "onnxruntime":
            return OnnxExtractor(path, threads)
    except (ImportError, RuntimeError, OSError) as exc:  # an op the exporter lacks, a full disk
        if choice != "auto":
            raise ConfigError(f"the ONNX graph of {name} could not be made: {exc}") from exc
        log.warning("ONNX export of %s failed (%s); running eager PyTorch", name, exc)
    return extractor
