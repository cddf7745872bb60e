"""Classification metrics in plain numpy (tested against scikit-learn), and their figures.

Weighted F1 is the headline (the study reports it); macro F1 shows whether small classes are
served; the confusion matrix says which genres are mistaken for which.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn
    from matplotlib.figure import Figure


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = images of true class i predicted as class j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # scikit-learn's zero_division=0 convention: an empty denominator scores 0
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, genres: list[str]
) -> dict:
    """The contract's metric block: weighted/macro F1, accuracy, per class, confusion."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion(y_true, y_pred, len(genres))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = support.sum()
    present = (support > 0) | (predicted > 0)  # sklearn averages over labels that occur
    return {
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "per_class": {
            g: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, g in enumerate(genres)
        },
        "confusion": cm.tolist(),
    }


def row_normalised(cm: np.ndarray | list) -> np.ndarray:
    cm = np.asarray(cm, dtype=float)
    return _safe_div(cm, cm.sum(axis=1, keepdims=True))


def top_confused_pairs(cm: np.ndarray | list, genres: list[str], n: int = 3) -> list[dict]:
    """The off-diagonal cells with the largest share of their true class, largest first."""
    counts = np.asarray(cm)
    rates = row_normalised(counts)
    cells = [
        (rates[i, j], counts[i, j], i, j)
        for i in range(len(genres))
        for j in range(len(genres))
        if i != j and counts[i, j] > 0
    ]
    cells.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    return [
        {"true": genres[i], "predicted": genres[j], "count": int(c), "rate": float(r)}
        for r, c, i, j in cells[:n]
    ]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def confusion_png(cm: np.ndarray | list, genres: list[str], title: str) -> bytes:
    """Row-normalised colours (recall per class), raw counts written in each cell."""
    plt = _pyplot()
    counts = np.asarray(cm)
    rates = row_normalised(counts)
    size = 1.6 + 0.55 * len(genres)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
    ax.set_yticks(range(len(genres)), genres)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(genres)):
        for j in range(len(genres)):
            colour = "white" if rates[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{rates[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=7,
                color=colour,
            )
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    return _png(fig)


def confused_pairs_png(
    pairs: list[dict], examples: dict[tuple[str, str], list[Path]], per_pair: int = 4
) -> bytes:
    """One row per confused pair: up to ``per_pair`` test covers of ``true`` called
    ``predicted``."""
    from sleeve.core.vision.samples import decode

    plt = _pyplot()
    rows = max(1, len(pairs))
    fig, axes = plt.subplots(rows, per_pair, figsize=(2.0 * per_pair, 2.3 * rows), squeeze=False)
    for r in range(rows):
        for c in range(per_pair):
            axes[r][c].axis("off")
        if r >= len(pairs):
            axes[r][0].text(0.5, 0.5, "no confusions", ha="center", va="center")
            continue
        pair = pairs[r]
        paths = examples.get((pair["true"], pair["predicted"]), [])[:per_pair]
        for c, path in enumerate(paths):
            try:
                thumb = decode(path, 128)
                thumb.thumbnail((160, 160))
                axes[r][c].imshow(thumb)
            except Exception:
                continue
        axes[r][0].set_title(
            f"{pair['true']} → {pair['predicted']}: {pair['count']} ({pair['rate']:.0%})",
            loc="left",
            fontsize=9,
        )
    fig.suptitle("Most confused genres (test): true → predicted", fontsize=10)
    return _png(fig)
