"""sleeve: grow an album-cover genre dataset from public catalogues and retrain the classifier.

The packages are floors (docs/architecture.md): sleeve.core, the stages sleeve.collector,
sleeve.dataset, sleeve.inference, sleeve.training, and the top floor sleeve.ui.
``from sleeve import Classifier`` is the documented Python API; it is imported on first use so
that ``import sleeve`` stays light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sleeve.core import __version__

if TYPE_CHECKING:
    from sleeve.inference.classifier import Classifier

__all__ = ["Classifier", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Classifier":
        from sleeve.inference.classifier import Classifier

        return Classifier
    raise AttributeError(f"module 'sleeve' has no attribute {name!r}")
