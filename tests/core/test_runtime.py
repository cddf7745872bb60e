"""The graph paths (ONNX Runtime, OpenVINO) compute what eager PyTorch computes, and the graph
cache is keyed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from sleeve.core.errors import ConfigError
from sleeve.core.vision import runtime
from sleeve.core.vision.backbones import load_backbone
from sleeve.core.vision.embeddings import FeatureRecipe, encode, extractor_for
from sleeve.core.vision.samples import Sample

SIZE = 64  # small inputs: the graph is the same at any size, and the CPUs here are shared


def _covers(folder: Path, n: int = 4) -> list[Sample]:
    """Generated covers: gradients, discs and bars, different per index."""
    samples = []
    for i in range(n):
        x = np.linspace(0, 255, 256, dtype=np.float32)
        img = np.stack(
            [
                np.outer(x, np.ones(256)),
                np.outer(np.ones(256), x[::-1]),
                np.full((256, 256), i * 60.0),
            ],
            axis=2,
        )
        picture = Image.fromarray(img.astype(np.uint8))
        draw = ImageDraw.Draw(picture)
        draw.ellipse((30 + 20 * i, 40, 160 + 10 * i, 200), fill=(240 - 50 * i, 30, 90 + 30 * i))
        draw.rectangle((10, 210 - 30 * i, 246, 230 - 30 * i), fill=(20, 200 - 40 * i, 20))
        path = folder / f"cover{i}.png"
        picture.save(path)
        samples.append(Sample(path, f"{i:064x}", "", "", 0))
    return samples


@pytest.fixture
def graph_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "sleeve" / "graphs"


@pytest.fixture(scope="module")
def backbone():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return load_backbone("efficientnet_lite0", "none")  # random init: no wheel needed


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_onnx_features_match_eager(tmp_path: Path, graph_cache: Path, backbone) -> None:  # type: ignore[no-untyped-def]
    samples = _covers(tmp_path)
    cpu = torch.device("cpu")
    for recipe in (FeatureRecipe(SIZE), FeatureRecipe(SIZE, flip_tta=True, style=True)):
        eager = encode(samples, backbone, recipe, cpu, progress=False, engine="torch")
        onnx = encode(samples, backbone, recipe, cpu, progress=False, engine="onnxruntime")
        assert eager.shape == onnx.shape
        assert _cosines(eager, onnx).min() >= runtime.MIN_COSINE
    graphs = sorted(p.name for p in graph_cache.glob("*.onnx"))
    assert len(graphs) == 2  # one per recipe
    plain = f"efficientnet_lite0-{SIZE}px-{'?' * 16}-{SIZE}px-opset*.json"
    verdict = json.loads(next(graph_cache.glob(plain)).read_text())
    assert verdict["cosine"] >= runtime.MIN_COSINE
    assert verdict["engine"] in set(runtime.ENGINES) - {"auto"}


OPENVINO = pytest.mark.skipif(
    runtime.openvino_version() is None, reason="OpenVINO is not installed (the ocr extra)"
)


@OPENVINO
def test_openvino_features_match_eager(tmp_path: Path, graph_cache: Path, backbone) -> None:  # type: ignore[no-untyped-def]
    """The same graph on OpenVINO: the eager features, for a full batch and a shorter last one,
    and its time and agreement in the verdict that ``auto`` reads."""
    samples = _covers(tmp_path, n=5)
    cpu = torch.device("cpu")
    recipe = FeatureRecipe(SIZE)
    eager = encode(samples, backbone, recipe, cpu, batch_size=3, progress=False, engine="torch")
    graph = extractor_for(backbone, recipe, cpu, engine="openvino")
    assert isinstance(graph, runtime.OpenVinoExtractor)
    ours = encode(samples, backbone, recipe, cpu, batch_size=3, progress=False, engine="openvino")
    assert _cosines(eager, ours).min() >= runtime.MIN_COSINE
    verdict = json.loads(next(graph_cache.glob("*.json")).read_text())
    assert verdict["openvino_ms"] > 0 and verdict["openvino_cosine"] >= runtime.MIN_COSINE


@OPENVINO
def test_a_verdict_from_before_openvino_is_measured_again(
    graph_cache: Path,
    backbone,  # type: ignore[no-untyped-def]
) -> None:
    recipe = FeatureRecipe(SIZE)
    extractor_for(backbone, recipe, torch.device("cpu"), engine="onnxruntime")
    meta = next(graph_cache.glob("*.json"))
    old = json.loads(meta.read_text())
    for field in ("openvino_ms", "openvino_cosine"):
        del old[field]  # as written before OpenVINO was measured
    meta.write_text(json.dumps(old))
    extractor_for(backbone, recipe, torch.device("cpu"), engine="auto")
    assert json.loads(meta.read_text())["openvino_ms"] is not None


def test_graph_rebuilt_when_weights_change(graph_cache: Path, backbone) -> None:  # type: ignore[no-untyped-def]
    cpu = torch.device("cpu")
    recipe = FeatureRecipe(SIZE)
    first = extractor_for(backbone, recipe, cpu, engine="onnxruntime")
    again = extractor_for(backbone, recipe, cpu, engine="onnxruntime")
    assert isinstance(first, runtime.OnnxExtractor) and isinstance(again, runtime.OnnxExtractor)
    assert first.path == again.path  # same weights: the cached graph is reused
    stamp = first.path.stat().st_mtime_ns
    with torch.no_grad():
        backbone.model.conv_stem.weight.mul_(1.5)  # "new weights"
    try:
        changed = extractor_for(backbone, recipe, cpu, engine="onnxruntime")
        assert isinstance(changed, runtime.OnnxExtractor)
        assert changed.path != first.path
        assert first.path.stat().st_mtime_ns == stamp  # the old graph is left as it was
        x = torch.rand(2, 3, SIZE, SIZE)
        with torch.inference_mode():
            eager = extractor_for(backbone, recipe, cpu, engine="torch")(x).numpy()
        assert _cosines(eager, changed(x).numpy()).min() >= runtime.MIN_COSINE
        assert _cosines(eager, first(x).numpy()).min() < runtime.MIN_COSINE
    finally:
        with torch.no_grad():
            backbone.model.conv_stem.weight.div_(1.5)


def test_key_names_what_the_graph_depends_on() -> None:
    key = runtime.graph_key("efficientnet_lite0", "240px", "ab" * 32, 240)
    assert key.startswith("efficientnet_lite0-240px-abababab")
    assert f"opset{runtime.OPSET}" in key and f"ort{runtime.onnxruntime_version()}" in key
    assert key != runtime.graph_key("efficientnet_lite0", "240px", "cd" * 32, 240)


def test_torch_choice_and_gpu_stay_eager(backbone) -> None:  # type: ignore[no-untyped-def]
    recipe = FeatureRecipe(224)
    forced = extractor_for(backbone, recipe, torch.device("cpu"), engine="torch")
    assert isinstance(forced, torch.nn.Module)
    with pytest.raises(ConfigError, match="SLEEVE_INFERENCE"):
        runtime.configure("tensorrt")


def test_the_setting_picks_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from sleeve.core.settings import load_settings

    monkeypatch.setattr(runtime, "_choice", "auto")
    load_settings({"SLEEVE_INFERENCE": "torch"}, env_file=None)
    assert runtime.current_choice() == "torch"
    with pytest.raises(ConfigError, match="SLEEVE_INFERENCE"):
        load_settings({"SLEEVE_INFERENCE": "fastest"}, env_file=None)
