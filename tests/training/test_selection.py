"""Model selection: grouped CV on train+val when val is small, with the selection's noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sleeve.training.evaluation.selection import VAL_MIN_COVERS, choose, selection_lines
from sleeve.training.fit.methods import FittedHead
from sleeve.training.run import MethodOutcome, TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export

GENRES = ["a", "b", "c"]


def _outcome(method: str, params: dict, val_f1: float, y_val: np.ndarray) -> MethodOutcome:
    probs = np.eye(3)[y_val]  # val probabilities only feed the bootstrap noise here
    out = MethodOutcome(FittedHead(method, {}, probs, params), np.zeros((1, 3)), 1.0, {})
    out.val = {"weighted_f1": val_f1}
    return out


def _planted(n: int = 240, seed: int = 0):
    """The label lives in one dimension among 60 noise dimensions: a linear head finds it,
    cosine kNN over all dimensions mostly sees noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 61))
    x[:, 0] = 3.0 * y + 0.3 * rng.normal(size=n)
    return x, y, [f"g{i // 2}" for i in range(n)]


def test_small_val_selects_by_grouped_cv_where_val_would_pick_otherwise() -> None:
    x, y, groups = _planted()
    y_val = np.array([0, 1, 2, 0, 1, 2])
    # planted: on the 6-cover val kNN happened to score higher than logreg
    knn = _outcome("knn", {"k": 40}, 0.9, y_val)
    logreg = _outcome("logreg", {"C": 1.0}, 0.6, y_val)
    finetune = _outcome("finetune", {}, 0.8, y_val)
    chosen, block = choose([knn, logreg, finetune], x, y, groups, y_val, GENRES)
    assert chosen is logreg
    assert block["rule"] == "grouped-cv" and block["val_choice"] == "knn"
    assert block["not_compared"] == ["finetune"]
    cv = block["per_method"]
    assert cv["logreg"]["estimate"] > cv["knn"]["estimate"]
    assert len(cv["knn"]["fold_scores"]) == 5 and cv["knn"]["std"] >= 0
    assert any("knn: mean fold weighted F1" in line for line in selection_lines(block))


def test_large_val_keeps_val_selection_and_reports_its_bootstrap_noise() -> None:
    x, y, groups = _planted()
    y_val = np.arange(VAL_MIN_COVERS) % 3
    knn = _outcome("knn", {"k": 40}, 0.9, y_val)
    logreg = _outcome("logreg", {"C": 1.0}, 0.6, y_val)
    chosen, block = choose([knn, logreg], x, y, groups, y_val, GENRES)
    assert chosen is knn and block["rule"] == "val"
    assert set(block["per_method"]) == {"knn", "logreg"}
    assert block["per_method"]["knn"]["val_bootstrap_std"] == 0.0  # all val covers right


def test_a_run_with_a_tiny_val_records_the_cv_path(tmp_path: Path) -> None:
    export = write_synthetic_export(tmp_path / "export", per_split=(12, 4, 4), size=64)
    config = TrainConfig(
        methods=("knn", "logreg"),
        image_size=64,
        batch_size=16,
        progress=False,
        label_issues=False,
    )
    result = train_and_evaluate(export, tmp_path / "run", config)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    sel = metrics["model_selection"]
    assert sel["rule"] == "grouped-cv" and sel["val_covers"] == 12
    assert metrics["best"]["method"] == sel["chosen"] == result.best_method
    assert set(sel["per_method"]) == {"knn", "logreg"}
    report = (result.run_dir / "report.md").read_text()
    assert "## Model selection" in report and "chosen by grouped CV on train+val" in report
