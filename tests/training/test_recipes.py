"""train-and-evaluate with no options runs the strongest measured recipe; --quick the ladder."""

from __future__ import annotations

from sleeve.training.cli import build_parser, config_from_args
from sleeve.training.run import DEFAULT_METHODS


def _config(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def test_no_options_runs_the_strongest_measured_recipe() -> None:
    config, name = _config()
    assert name == "best-measured"
    assert config.methods == ("svc", "text", "fused")
    assert config.backbone == "efficientnet_lite0+efficientnet_lite1"
    assert config.flip_tta and config.style and config.image_size == 224


def test_quick_runs_the_lite0_ladder() -> None:
    config, name = _config("--quick")
    assert name == "quick"
    assert config.methods == DEFAULT_METHODS and config.backbone == "efficientnet_lite0"
    assert not config.flip_tta and not config.style and config.image_size == 224
    assert _config("--quick", "--image-size", "64")[0].image_size == 64


def test_recipe_options_compose_on_the_quick_defaults() -> None:
    config, name = _config("--method", "knn", "--flip-tta")
    assert name == "as-given"
    assert config.methods == ("knn",) and config.backbone == "efficientnet_lite0"
    assert config.flip_tta and not config.style
    config, _ = _config("--backbone", "efficientnet_lite1")
    assert config.methods == DEFAULT_METHODS and config.backbone == "efficientnet_lite1"


def test_a_weights_file_keeps_the_single_default_backbone() -> None:
    config, name = _config("--weights", "/tmp/w.pth")
    assert name == "as-given" and config.backbone == "efficientnet_lite0"
