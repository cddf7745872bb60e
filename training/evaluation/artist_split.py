"""Test weighted F1 by artist: covers whose artist also appears in train, covers by artists
train lacks, and covers with no known artist (the export's artists.csv,
dataset/text/artist_stage.py).

The words on a cover help most when they name an artist the model saw in training; this split
says how much of a score comes from such covers, which a catalog of new artists will not have.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sleeve.dataset.text.artist_stage import ARTIST_TABLE, load_table
from sleeve.inference.text_head import weighted_f1
from sleeve.training.data import Export

KINDS = ("seen", "unseen", "none")


def artist_kinds(export: Export) -> np.ndarray | None:
    """Per test cover (export order): "seen", "unseen" or "none"; None without artists.csv."""
    table = load_table(export.dataset.side_file(ARTIST_TABLE))
    if not table:
        return None
    train = {table[s.sha256].key for s in export.split("train") if s.sha256 in table}
    train.discard("")
    keys = [table[s.sha256].key if s.sha256 in table else "" for s in export.split("test")]
    return np.array(["none" if not k else "seen" if k in train else "unseen" for k in keys])


def artist_breakdown(export: Export, arrays: Mapping[str, np.ndarray]) -> dict | None:
    """Counts per kind and each method's test weighted F1 per kind (``arrays``: the run's
    probabilities.npz contents, ``<method>_test`` in export order)."""
    kind = artist_kinds(export)
    if kind is None:
        return None
    y = np.array([s.label for s in export.split("test")])
    methods = sorted(
        k[: -len("_test")] for k in arrays if k.endswith("_test") and k != "sha256_test"
    )
    out: dict = {"counts": {k: int((kind == k).sum()) for k in KINDS}, "weighted_f1": {}}
    for m in methods:
        p = np.asarray(arrays[f"{m}_test"])
        out["weighted_f1"][m] = {
            k: round(weighted_f1(y[kind == k], p[kind == k]), 4) if (kind == k).any() else None
            for k in KINDS
        }
    return out
