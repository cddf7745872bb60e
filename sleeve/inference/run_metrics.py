"""metrics.json as a record (sleeve.core.jsonrecord): what a run hands to its reports, the app, the
benchmarks and the next run's comparisons. The keys, their order and their values are those
metrics.json has always had; a key a newer sleeve adds is kept in ``extra``.

``val`` and ``test`` stay the plain mapping classification_metrics returns
(training/evaluation/metrics.py: weighted_f1, macro_f1, accuracy, per_class, confusion, ...),
and the optional blocks
(model_selection, headline, learning_curve, artists) stay the objects their modules write;
``artist_table`` is a record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sleeve.core.jsonrecord import JsonRecord


@dataclass(kw_only=True)
class MethodMetrics(JsonRecord):
    val: dict[str, Any]
    test: dict[str, Any]
    train_seconds: float
    images_per_second: float
    params: dict[str, Any]


@dataclass(kw_only=True)
class BestMethod(JsonRecord):
    method: str
    val_weighted_f1: float
    test_weighted_f1: float


@dataclass(kw_only=True)
class ArtistTableMetrics(JsonRecord):
    """The fused rung's artist table (sleeve/inference/artist_table.py): its size, its weight
    and what it did on the test covers whose words name one of its artists."""

    method: str  # the rung that carries it (fused)
    artists: int  # in the table (at least min_covers train covers each)
    min_covers: int
    train_covers: int  # train covers with artist evidence (before the min_covers cut)
    extra_covers: int  # of them, covers the balancer left out (text_extra.jsonl)
    weight: float  # the term's weight, chosen on val
    val_recognised: int  # val covers whose words name a table artist
    test_covers: int
    test_recognised: int
    # test weighted F1 on the recognised covers, fused with and without the artist term
    test_weighted_f1_with: float | None
    test_weighted_f1_without: float | None


@dataclass(kw_only=True)
class RunMetrics(JsonRecord):
    dataset_id: str
    backbone: str
    weights: str  # where the backbone's weights came from
    genres: list[str]
    methods: dict[str, MethodMetrics]  # in the order they were trained
    best: BestMethod
    selection: str  # how the shipped method was chosen, in words
    seed: int
    counts: dict[str, dict[str, int]]  # split -> genre -> covers
    skipped_images: dict[str, int]
    total_seconds: float
    model_selection: dict[str, Any] | None = None  # training/evaluation/selection.py
    headline: dict[str, Any] | None = None  # training/evaluation/headline.py
    learning_curve: dict[str, Any] | None = None  # training/evaluation/learning_curve.py
    artists: dict[str, Any] | None = (
        None  # seen/unseen artists (training/evaluation/artist_split.py)
    )
    # coverage vs weighted F1 above a top-probability threshold (training/evaluation/confidence.py)
    confidence: dict[str, Any] | None = None
    artist_table: ArtistTableMetrics | None = None  # sleeve/inference/artist_table.py

    @classmethod
    def _decode(cls, values: dict[str, Any]) -> dict[str, Any]:
        out = values | {
            "methods": {k: MethodMetrics.from_dict(v) for k, v in values["methods"].items()},
            "best": BestMethod.from_dict(values["best"]),
        }
        if values.get("artist_table") is not None:
            out["artist_table"] = ArtistTableMetrics.from_dict(values["artist_table"])
        return out
