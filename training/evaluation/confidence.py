"""How sure is it: weighted F1 when the model answers only above a top-probability threshold.

The thresholds come from val (the top probability below which a share of val covers falls),
the curve from test: for each threshold, the share of test covers answered (coverage) and the
weighted F1 on them. ``predict --min-confidence T`` answers "unsure" below ``T``; the report's
table says what a threshold buys on covers the run never chose anything on.
"""

from __future__ import annotations

import numpy as np

from sleeve.inference.text_head import weighted_f1

VAL_COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)  # share of val covers answered


def coverage_curve(
    val_probs: np.ndarray, test_probs: np.ndarray, y_test: np.ndarray
) -> list[dict[str, float]]:
    """One point per ``VAL_COVERAGES`` entry: the val threshold and test coverage / wF1."""
    val_top, test_top = val_probs.max(1), test_probs.max(1)
    points = []
    for share in VAL_COVERAGES:
        t = 0.0 if share >= 1.0 else float(np.quantile(val_top, 1.0 - share))
        answered = test_top >= t
        points.append(
            {
                "min_confidence": round(t, 4),
                "val_coverage": round(float((val_top >= t).mean()), 4),
                "test_coverage": round(float(answered.mean()), 4),
                "test_weighted_f1": round(weighted_f1(y_test[answered], test_probs[answered]), 4)
                if answered.any()
                else 0.0,
            }
        )
    return points


def curve_lines(points: list[dict[str, float]]) -> list[str]:
    """Markdown table rows for report.md."""
    lines = [
        "| --min-confidence (from val) | val answered | test answered | test weighted F1 |",
        "|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p['min_confidence']:.3f} | {p['val_coverage']:.0%} | {p['test_coverage']:.0%} "
            f"| {p['test_weighted_f1']:.3f} |"
        )
    return lines
