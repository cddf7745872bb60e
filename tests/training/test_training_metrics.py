"""Our numpy metrics agree with scikit-learn on fixed predictions, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from sleeve.training.evaluation.metrics import (
    classification_metrics,
    confusion_png,
    row_normalised,
    top_confused_pairs,
)

GENRES = ["disco", "jazz", "metal", "rap"]
CASES = {
    "mixed": ([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3], [0, 1, 0, 1, 2, 2, 2, 0, 3, 3, 1, 0]),
    "class never predicted": ([0, 1, 2, 3, 0, 1, 2, 3], [0, 1, 2, 2, 0, 1, 2, 2]),
    "class absent from truth": ([0, 0, 1, 1, 2, 2], [0, 3, 1, 1, 2, 0]),
    "perfect": ([0, 1, 2, 3], [0, 1, 2, 3]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_metrics_match_sklearn(case: str) -> None:
    y_true, y_pred = (np.array(v) for v in CASES[case])
    ours = classification_metrics(y_true, y_pred, GENRES)
    assert ours["weighted_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="weighted", zero_division=0)
    )
    assert ours["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert ours["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=range(len(GENRES)), zero_division=0
    )
    for i, g in enumerate(GENRES):
        assert ours["per_class"][g]["precision"] == pytest.approx(p[i])
        assert ours["per_class"][g]["recall"] == pytest.approx(r[i])
        assert ours["per_class"][g]["f1"] == pytest.approx(f[i])
        assert ours["per_class"][g]["support"] == s[i]
    assert ours["confusion"] == confusion_matrix(y_true, y_pred, labels=range(4)).tolist()


def test_row_normalised_and_confused_pairs() -> None:
    cm = [[8, 2, 0], [5, 5, 0], [0, 0, 0]]
    rates = row_normalised(cm)
    assert rates[0].tolist() == pytest.approx([0.8, 0.2, 0.0])
    assert rates[2].tolist() == [0.0, 0.0, 0.0]  # an empty row stays zero, no NaN
    pairs = top_confused_pairs(cm, ["a", "b", "c"], n=5)
    got = [(p["true"], p["predicted"], p["count"]) for p in pairs]
    assert got == [("b", "a", 5), ("a", "b", 2)]
    assert pairs[0]["rate"] == pytest.approx(0.5)


def test_confusion_png_is_a_png() -> None:
    png = confusion_png([[3, 1], [0, 4]], ["a", "b"], "t")
    assert png.startswith(b"\x89PNG")
