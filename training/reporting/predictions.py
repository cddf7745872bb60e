"""Per-cover outputs of a run: ``predictions.csv`` and ``probabilities.npz``.

A metric is only useful if it leads back to the covers behind it. Both files cover the val and
test splits (train covers were fitted on, their in-sample scores say nothing) in the same row
order: ``export.split("val")`` then ``export.split("test")``, i.e. the manifest's rows of that
split sorted by (genre, sha256).

``predictions.csv`` is *wide*: one row per cover, so a cover's whole story is one line:

    sha256, path, split, true_genre,
    <method>.predicted, <method>.p.<genre> ...   (for every method, in ladder order)

``path`` is the cover's absolute path in the export. ``<method>.predicted`` is the argmax of
that method's probabilities (what the metrics count); probabilities are written with 6
significant digits. Method names are identifiers and genre names ``[a-z0-9_-]``, so the ``.``
separator is unambiguous.

``probabilities.npz`` holds the full-precision arrays: ``genres``, ``sha256_val``,
``sha256_test`` and ``<method>_<split>`` (rows aligned with ``sha256_<split>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sleeve.core import csvfile
from sleeve.core.fsutil import atomic_path

if TYPE_CHECKING:
    from sleeve.training.data import Export
    from sleeve.training.fit.methods import MethodOutcome

SPLITS = ("val", "test")
BASE_COLUMNS = ("sha256", "path", "split", "true_genre")


def method_probabilities(outcome: MethodOutcome, split: str) -> np.ndarray:
    return outcome.fitted.val_probs if split == "val" else outcome.test_probs


def prediction_columns(methods: Sequence[str], genres: Sequence[str]) -> list[str]:
    cols = list(BASE_COLUMNS)
    for m in methods:
        cols.append(f"{m}.predicted")
        cols += [f"{m}.p.{g}" for g in genres]
    return cols


def render_predictions(export: Export, outcomes: Sequence[MethodOutcome]) -> str:
    genres = export.genres
    methods = [o.fitted.method for o in outcomes]
    table = []
    for split in SPLITS:
        samples = export.split(split)
        probs = [method_probabilities(o, split) for o in outcomes]
        for p in probs:
            if len(p) != len(samples):
                raise ValueError(f"{len(p)} {split} probability rows for {len(samples)} covers")
        for i, s in enumerate(samples):
            row: list[object] = [s.sha256, str(s.path), split, s.genre]
            for p in probs:
                row.append(genres[int(p[i].argmax())])
                row += [f"{v:.6g}" for v in p[i]]
            table.append(row)
    return csvfile.render(prediction_columns(methods, genres), table)


def probability_arrays(export: Export, outcomes: Sequence[MethodOutcome]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"genres": np.array(export.genres)}
    for split in SPLITS:
        arrays[f"sha256_{split}"] = np.array([s.sha256 for s in export.split(split)])
    for o in outcomes:
        for split in SPLITS:
            arrays[f"{o.fitted.method}_{split}"] = method_probabilities(o, split)
    return arrays


def write_probabilities(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        # numpy's stub types ** as its bool keyword too (a key could be "allow_pickle")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]


# -- reading back (rows from rundir.Run.predictions()) ------------------------------------------


def methods_in(columns: Sequence[str]) -> list[str]:
    return [c[: -len(".predicted")] for c in columns if c.endswith(".predicted")]


def probability_of(row: dict[str, str], method: str, genre: str) -> float:
    return float(row[f"{method}.p.{genre}"])
