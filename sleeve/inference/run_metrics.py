"""metrics.json as a record (sleeve.core.jsonrecord): what a run hands to its reports, the app, the
benchmarks and the next run's comparisons. The keys, their order and their values are those
metrics.json has always had; a key a newer sleeve adds is kept in ``extra``.

``val`` and ``test`` stay the plain mapping classification_metrics returns
(training/evaluation/metrics.py: weighted_f1, macro_f1, accuracy, per_class, confusion, ...),
and the optional blocks
(model_selection, headline, learning_curve, artists) stay the objects their modules write."""

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

    @classmethod
    def _decode(cls, values: dict[str, Any]) -> dict[str, Any]:
        return values | {
            "methods": {k: MethodMetrics.from_dict(v) for k, v in values["methods"].items()},
            "best": BestMethod.from_dict(values["best"]),
        }
