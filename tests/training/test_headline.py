"""The headline estimate: grouped CV of the chosen head over all covers, beside the test split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sleeve.training.evaluation.grouped_cv import grouped_cv_scores
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export

GENRES = ["a", "b", "c"]


def _leaky_groups(n_groups: int = 60, per_group: int = 4, seed: int = 0):
    """Covers in a group are near-copies with one random label: only leakage can score."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, 16))
    labels = np.arange(n_groups) % 3
    rng.shuffle(labels)
    x = np.repeat(centres, per_group, axis=0) + 0.01 * rng.normal(size=(n_groups * per_group, 16))
    y = np.repeat(labels, per_group)
    groups = [f"g{i}" for i in range(n_groups) for _ in range(per_group)]
    return x, y, groups


def test_grouped_folds_keep_near_copies_on_one_side() -> None:
    x, y, groups = _leaky_groups()
    grouped = grouped_cv_scores("knn", {"k": 5}, x, y, groups, GENRES, repeats=2)
    # every cover its own group: copies leak across folds and kNN looks perfect
    leaky = grouped_cv_scores("knn", {"k": 5}, x, y, [str(i) for i in range(len(y))], GENRES)
    assert np.mean(leaky) > 0.9
    assert np.mean(grouped) < 0.6  # chance is 1/3: labels are random per group
    assert len(grouped) == 10  # 5 folds x 2 repeats


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("headline")
    export = write_synthetic_export(root / "export", per_split=(12, 4, 4), size=64)
    config = TrainConfig(
        methods=("knn", "logreg"),
        image_size=64,
        batch_size=16,
        progress=False,
        label_issues=False,
    )
    return train_and_evaluate(export, root / "run", config)


def test_metrics_lead_with_a_headline_beside_the_test_split(run) -> None:
    metrics = json.loads((Path(run.run_dir) / "metrics.json").read_text())
    h = metrics["headline"]
    assert h["chosen_method"] == metrics["best"]["method"]
    assert h["test_split_score"] == pytest.approx(metrics["best"]["test_weighted_f1"], abs=1e-4)
    assert h["covers"] == sum(sum(c.values()) for c in metrics["counts"].values())
    assert h["n_folds"] * h["repeats"] == len(h["fold_scores"])
    lo, hi = h["interval"]
    assert lo <= h["estimate"] <= hi
    assert "grouped" in h["method"]
    report = (Path(run.run_dir) / "report.md").read_text()
    first = next(line for line in report.splitlines() if line.startswith("**"))
    assert "Estimated weighted F1" in first and f"{h['estimate']:.3f}" in first
    assert "Estimated weighted F1" in (Path(run.run_dir) / "report.html").read_text()
    assert "How: grouped stratified 5-fold" in (Path(run.run_dir) / "model_card.md").read_text()
