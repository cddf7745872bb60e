"""The fused rung's artist table at training time (sleeve/inference/artist_table.py).

Built from the covers the text rung trains on: the train split's artist evidence (the export's
artists.csv) and that of the covers the balancer left out (text_extra.jsonl, none sharing a
group or an artist with a val/test cover; the ambiguous groups' covers there, with tied
genres, are not single-genre evidence and stay out). Val and test covers never add to it: their
artists are recognised from their words, as a new cover's are at predict time, and the term's
weight is chosen on the recognised val covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleeve.dataset.text.artist_stage import ARTIST_TABLE, load_table
from sleeve.inference.artist_table import ArtistTable, build_artist_table, choose_artist_weight
from sleeve.inference.run_metrics import ArtistTableMetrics
from sleeve.inference.text_head import weighted_f1
from sleeve.training.data import Export

METHOD = "fused"


@dataclass
class FittedArtists:
    table: ArtistTable  # weight chosen on val
    val_probs: np.ndarray  # the fused probabilities with the artist term
    test_probs: np.ndarray
    metrics: ArtistTableMetrics


def train_evidence(export: Export) -> tuple[list[tuple[str, str, int]], int]:
    """(artist key, name, genre index) per text-rung train cover with artist evidence, and how
    many of them are covers the balancer left out."""
    label = {g: i for i, g in enumerate(export.genres)}
    table = load_table(export.dataset.side_file(ARTIST_TABLE))
    train = [
        (ev.key, ev.name, s.label)
        for s in export.split("train")
        if (ev := table.get(s.sha256)) is not None and ev.key
    ]
    extra = [
        (c.artist_key, c.artist, label[c.genre])
        for c in export.dataset.extra_covers
        if c.artist_key and c.genre in label and not c.shares  # an ambiguous cover's genre
        # is one of several: its artist is no evidence for any one of them
    ]
    return train + extra, len(extra)


def fit_artists(
    export: Export, fused_val: np.ndarray, fused_test: np.ndarray, y_val: np.ndarray
) -> FittedArtists:
    """The table, its weight chosen on val, and the fused probabilities with its term."""
    evidence, extra = train_evidence(export)
    table = build_artist_table(evidence, export.genres)
    words = export.dataset.word_table
    found = {
        sp: [table.recognise(words.get(s.sha256, [])) for s in export.split(sp)]
        for sp in ("val", "test")
    }
    table.weight, _ = choose_artist_weight(table, fused_val, found["val"], y_val)
    val_probs = table.apply(fused_val, found["val"])
    test_probs = table.apply(fused_test, found["test"])
    y_test = np.array([s.label for s in export.split("test")])
    hit = np.array([f is not None for f in found["test"]], dtype=bool)
    metrics = ArtistTableMetrics(
        method=METHOD,
        artists=len(table),
        min_covers=table.min_covers,
        train_covers=len(evidence),
        extra_covers=extra,
        weight=table.weight,
        val_recognised=sum(f is not None for f in found["val"]),
        test_covers=len(hit),
        test_recognised=int(hit.sum()),
        test_weighted_f1_with=_f1(y_test[hit], test_probs[hit]),
        test_weighted_f1_without=_f1(y_test[hit], fused_test[hit]),
    )
    return FittedArtists(table, val_probs, test_probs, metrics)


def _f1(y: np.ndarray, probs: np.ndarray) -> float | None:
    return round(weighted_f1(y, probs), 4) if len(y) else None
