"""What every attribute extractor is: a name, a version, documented fields, a function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# value: number | list | str; JSON-serialisable
Values = dict[str, object]


@dataclass(frozen=True)
class Field:
    """One stored value: its definition and range, shown by ``sleeve attributes --list``."""

    name: str
    definition: str
    range: str


@dataclass(frozen=True)
class Extractor:
    """``compute(view)`` -> values; ``version`` is bumped whenever a definition changes, so the
    cache (keyed by name and version) recomputes instead of mixing old and new values."""

    name: str
    version: int
    fields: tuple[Field, ...]
    compute: Callable[[CoverView], Values]
    requires: str = ""  # the pip package to install when the extractor cannot load
    columns: tuple[str, ...] = field(default=())  # scalar fields exported to attributes.csv
    uses_torch: bool = False  # then workers are spawned fresh, not forked
    # loads the extractor's network (exporting its ONNX graph on first use); a build's driver
    # calls it before the workers start, so they find the graph made instead of racing to
    # export it. None: nothing worth loading ahead
    load: Callable[[], object] | None = None


@dataclass
class CoverView:
    """One decoded cover, shared by every extractor of a file (decoded once).

    ``rgb``: uint8 array (h, w, 3), longest side at most ``WORK_SIDE`` px, the input of colour,
    texture and structure (a fixed scale makes their values comparable across cover sizes);
    ``large``: the same picture at most ``FACE_SIDE`` px, for the face detectors.
    """

    rgb: np.ndarray
    large: np.ndarray
