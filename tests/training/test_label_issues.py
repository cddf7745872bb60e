"""The review loop's first half: out-of-fold label-issue scores written into every run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from sleeve.inference.rundir import Run
from sleeve.training.evaluation.grouped_cv import image_oof_probabilities
from sleeve.training.evaluation.label_issues import (
    MAX_QUEUE,
    calibrated,
    flag_queue,
    fold_of,
    measure_thresholds,
    out_of_fold_probabilities,
)
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export

TINY = dict(epochs=1, image_size=64, batch_size=16, progress=False)


def plant_mislabels(export: Path, n: int) -> list[str]:
    """Refile ``n`` train metal covers as disco in the manifest; their sha256s."""
    path = export / "manifest.csv"
    rows = list(csv.DictReader(path.open(newline="")))
    moved = []
    for r in rows:
        if len(moved) < n and r["split"] == "train" and r["genre"] == "metal":
            r["genre"] = "disco"
            moved.append(r["sha256"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue())
    return moved


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    root = tmp_path_factory.mktemp("issues")
    export = write_synthetic_export(root / "export", per_split=(14, 4, 4), size=64, seed=5)
    planted = plant_mislabels(export, 3)
    result = train_and_evaluate(export, root / "run", TrainConfig(methods=("logreg",), **TINY))
    return export, result.run_dir, planted


def test_the_queue_is_short_and_test_covers_never_enter(run) -> None:
    export, run_dir, _ = run
    rows = Run(run_dir).label_issues()
    manifest = list(csv.DictReader((export / "manifest.csv").open(newline="")))
    train_val = {r["sha256"] for r in manifest if r["split"] != "test"}
    assert {r["sha256"] for r in rows} == train_val  # every train/val cover, no test cover
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert {"words", "artist"} <= set(rows[0])
    flagged = [r for r in rows if r["is_label_issue"] == "1"]
    assert len(flagged) <= MAX_QUEUE * len(rows)
    assert rows[: len(flagged)] == flagged  # flagged first
    assert all(r["given_genre"] != r["suggested_genre"] for r in flagged)
    quality = [float(r["label_quality"]) for r in rows[len(flagged) :]]
    assert quality == sorted(quality)  # then by p(given), lowest first


def test_measured_thresholds_flag_planted_mistakes_and_few_right_labels() -> None:
    # three well-separated genres, three covers filed under the wrong one: out-of-fold, the
    # shipped head (here a logistic regression) finds them, and only them, in a short queue
    rng = np.random.default_rng(3)
    truth = np.repeat([0, 1, 2], 40)
    x = 3.0 * np.eye(3)[truth].repeat(4, axis=1) + rng.normal(size=(120, 12))
    y = truth.copy()
    planted = [0, 41, 82]
    y[planted] = (truth[planted] + 1) % 3
    fold = fold_of(y, [str(i) for i in range(120)], 3, seed=0)
    probs = image_oof_probabilities("logreg", {"C": 0.05}, 1.0, x, y, fold, 3)
    probs, _ = calibrated(probs, y)
    thresholds = measure_thresholds(probs, y, 3)
    assert thresholds["queue_share"] <= MAX_QUEUE
    assert thresholds["planted_mistakes_caught"] > 0.5
    flagged = flag_queue(probs, y, thresholds)
    assert set(np.flatnonzero(flagged)) == set(planted)


def test_the_queue_is_capped_when_no_threshold_keeps_it_short() -> None:
    y = np.zeros(40, dtype=np.int64)
    probs = np.tile([0.01, 0.99], (40, 1))  # a model that disagrees with every label
    thresholds = measure_thresholds(probs, y, 2)
    assert flag_queue(probs, y, thresholds).sum() == int(MAX_QUEUE * 40)


def test_folds_keep_each_group_together_and_cover_every_row() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    groups = [f"artist-{rng.integers(25)}" for _ in y]  # artists with several covers
    fold = fold_of(y, groups, 3, seed=0)
    assert fold.min() == 0 and fold.max() == 4  # five folds, every row held out once
    for g in set(groups):
        assert len({int(fold[i]) for i, h in enumerate(groups) if h == g}) == 1


def test_out_of_fold_probabilities_never_see_their_row() -> None:
    """A far outlier filed under class 1: fitted on itself it would score its own label high;
    held out, the class-0 side of the boundary it sits on gives class 1 a low probability."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    x = np.where(y[:, None] == 0, -2.0, 2.0) + rng.normal(size=(40, 4))
    x = np.vstack([x, [[-6.0] * 4]])
    y = np.append(y, 1)
    probs, folds, _ = out_of_fold_probabilities(x, y, [str(i) for i in range(41)], 2, seed=0)
    assert folds == 5 and np.allclose(probs.sum(1), 1.0)
    assert probs[-1, 1] < 0.2


def test_c_is_chosen_on_out_of_fold_log_loss() -> None:
    """Noisy, weakly separable classes: the least regularised head overfits and is
    overconfident; the chosen C has the lowest out-of-fold log loss of those tried."""
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 40)
    x = rng.normal(size=(120, 300)) + 0.1 * np.eye(3)[y].repeat(100, axis=1)
    groups = [str(i) for i in range(120)]
    grid = (0.0005, 0.005, 0.05, 0.5)
    _, _, chosen = out_of_fold_probabilities(x, y, groups, 3, seed=0, c_grid=grid)
    losses = {}
    for c in grid:
        p, _, _ = out_of_fold_probabilities(x, y, groups, 3, seed=0, c_grid=(c,))
        losses[c] = -np.log(p[np.arange(120), y]).mean()
    assert chosen == min(losses, key=losses.get)
    assert chosen not in (grid[0], grid[-1])  # an interior optimum: the search stops there
