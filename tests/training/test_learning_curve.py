"""Learning curve: nested fractions, the power-law fit, and the advice's rules."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from sleeve.training.evaluation.learning_curve import (
    MAX_EXTRAPOLATION,
    advise,
    fit_with_interval,
    nested_subsets,
    power_law,
)
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export


def test_fractions_are_nested_and_stratified() -> None:
    y = np.repeat([0, 1, 2], [40, 20, 10])
    subsets = nested_subsets(y, (0.1, 0.5, 1.0), seed=3)
    for small, big in pairwise(subsets):
        assert set(small) <= set(big)
    assert np.bincount(y[subsets[1]]).tolist() == [20, 10, 5]
    assert np.bincount(y[subsets[0]]).tolist() == [4, 2, 2]  # at least 2 per genre
    assert len(subsets[-1]) == len(y)


def _curve(a: float, b: float, c: float, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = np.tile([40, 100, 200, 300, 400], 3).astype(float)
    repeat = np.repeat([0, 1, 2], 5)
    score = power_law(n, a, b, c) + noise * rng.normal(size=n.size)
    return n, score, repeat


def test_fit_recovers_a_planted_power_law() -> None:
    n, score, repeat = _curve(0.8, 2.0, 0.5, noise=0.005)
    fit = fit_with_interval(n, score, repeat, np.array([400, 800]))
    assert fit is not None
    true_800 = power_law(np.array([800.0]), 0.8, 2.0, 0.5)[0]
    at = fit["at"][1]
    assert at["lo"] <= at["f1"] <= at["hi"]
    # within 0.01 of the truth; the bootstrap over 3 repeats is narrow (it covers
    # repeat-to-repeat noise only), so the truth may sit just outside it
    assert abs(at["f1"] - true_800) < 0.01
    assert abs(fit["params"]["a"] - 0.8) < 0.05


def test_advice_rules_grow_flat_uncertain_and_never_past_twice_today() -> None:
    targets = np.array([400, int(MAX_EXTRAPOLATION * 400)])
    grow = advise("pop", 400, fit_with_interval(*_curve(0.8, 2.0, 0.5, 0.005), targets), "pop")
    assert grow["verdict"] == "grow"
    assert grow["n_target"] == 800 and grow["more"] == 400  # capped at 2x today
    assert grow["command"] == "sleeve collect --genre pop --limit 400"
    assert grow["f1_target"] > grow["f1_now"] and "from" in grow["text"]
    flat = advise("jazz", 400, fit_with_interval(*_curve(0.7, 0.0, 0.5, 0.002), targets), "jazz")
    assert flat["verdict"] == "flat" and "command" not in flat
    noisy = fit_with_interval(*_curve(0.6, 2.0, 0.5, 0.2, seed=1), targets)
    shaky = advise("rap", 400, noisy, "rap")
    assert shaky["verdict"] in ("uncertain", "no-fit") and "command" not in shaky
    assert advise("disco", 10, None, "disco")["verdict"] == "no-fit"
    # a gain whose interval still holds today's score: no command
    at = [
        {"n": 400, "f1": 0.47, "lo": 0.45, "hi": 0.48},
        {"n": 800, "f1": 0.49, "lo": 0.46, "hi": 0.51},
    ]
    unclear = advise("rock", 400, {"at": at}, "rock")
    assert unclear["verdict"] == "unclear" and "command" not in unclear


@pytest.mark.filterwarnings("ignore")
def test_train_and_evaluate_learning_curve_writes_block_figure_and_report(tmp_path: Path) -> None:
    export = write_synthetic_export(tmp_path / "export", per_split=(12, 4, 4), size=64)
    config = TrainConfig(
        methods=("logreg",),
        image_size=64,
        batch_size=16,
        progress=False,
        label_issues=False,
        learning_curve=True,
    )
    result = train_and_evaluate(export, tmp_path / "run", config)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    lc = metrics["learning_curve"]
    assert lc["head"] == "logreg" and lc["fractions"] == [0.1, 0.25, 0.5, 0.75, 1.0]
    assert len(lc["points"]) == 5 * lc["repeats"]
    assert {a["curve"] for a in lc["advice"]} == {"overall", "disco", "jazz", "metal"}
    assert all(p["n_train"] <= 36 for p in lc["points"])
    assert (result.run_dir / "learning_curve.png").read_bytes().startswith(b"\x89PNG")
    report = (result.run_dir / "report.md").read_text()
    assert "## Learning curve" in report and "learning_curve.png" in report
