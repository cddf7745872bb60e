"""Per-cover outputs: predictions.csv and probabilities.npz lead from a metric to its covers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sleeve.inference.rundir import Run
from sleeve.training.data import load_export
from sleeve.training.evaluation.metrics import classification_metrics
from sleeve.training.reporting.predictions import methods_in
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export

TINY = dict(epochs=1, image_size=64, batch_size=16, progress=False)
METHODS = ("knn", "logreg", "svc")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pred")
    export = write_synthetic_export(root / "export", per_split=(10, 4, 4), size=64, seed=3)
    result = train_and_evaluate(export, root / "run", TrainConfig(methods=METHODS, **TINY))
    return export, result.run_dir


def test_predictions_rows_are_the_val_and_test_covers(run) -> None:
    export_dir, run_dir = run
    export = load_export(export_dir)
    rows = Run(run_dir).predictions()
    for split in ("val", "test"):
        got = [(r["sha256"], r["true_genre"]) for r in rows if r["split"] == split]
        assert got == [(s.sha256, s.genre) for s in export.split(split)]
    assert all(Path(r["path"]).is_file() for r in rows)
    assert methods_in(list(rows[0])) == list(METHODS)


def test_metrics_recomputed_from_predictions_equal_metrics_json(run) -> None:
    _, run_dir = run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    genres = metrics["genres"]
    rows = Run(run_dir).predictions()
    for method in METHODS:
        for split in ("val", "test"):
            part = [r for r in rows if r["split"] == split]
            truth = [genres.index(r["true_genre"]) for r in part]
            pred = [genres.index(r[f"{method}.predicted"]) for r in part]
            assert classification_metrics(truth, pred, genres) == metrics["methods"][method][split]
            probs = np.array([[float(r[f"{method}.p.{g}"]) for g in genres] for r in part])
            assert probs.sum(1) == pytest.approx(1.0, abs=1e-4)
            assert [genres[i] for i in probs.argmax(1)] == [r[f"{method}.predicted"] for r in part]


def test_probabilities_npz_is_keyed_by_sha256(run) -> None:
    _, run_dir = run
    rows = Run(run_dir).predictions()
    with np.load(run_dir / "probabilities.npz") as npz:
        genres = list(npz["genres"])
        for split in ("val", "test"):
            shas = list(npz[f"sha256_{split}"])
            assert shas == [r["sha256"] for r in rows if r["split"] == split]
            svc = npz[f"svc_{split}"]
            assert svc.shape == (len(shas), len(genres))
            by_sha = {r["sha256"]: r for r in rows}
            first = by_sha[shas[0]]
            assert float(first[f"svc.p.{genres[0]}"]) == pytest.approx(svc[0, 0], rel=1e-5)
