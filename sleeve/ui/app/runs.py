"""Runs for the app, as plain functions: every run under runs/, the covers behind a confusion
cell (from predictions.csv), confused pairs of any method, and two runs side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleeve.core.errors import DataError
from sleeve.core.settings import Settings
from sleeve.inference.rundir import PREDICTIONS, Run, finished_runs
from sleeve.training.evaluation.metrics import top_confused_pairs
from sleeve.ui.app.data import NotReady, RunReport

# config keys that differ between any two runs and say nothing about the recipe
_NOISE_KEYS = {"argv", "export_dir", "progress", "settings", "torch_threads"}


def list_runs(settings: Settings) -> list[Path]:
    """Finished runs (a metrics.json) under runs/, newest first; LATEST's target leads."""
    found = [run.root for run in finished_runs(settings.runs_dir)]
    if not found:
        raise NotReady(
            f"No trained run yet (nothing under {settings.runs_dir}). Run `train-and-evaluate` "
            "(or `sleeve demo`) first."
        )
    return found


def predictions(run_dir: Path) -> list[dict[str, str]]:
    run = Run(Path(run_dir))
    if not run.predictions_path.is_file():
        raise NotReady(
            f"{run_dir} has no {PREDICTIONS} (an older run): run `train-and-evaluate` again "
            "to see the covers behind each cell."
        )
    try:
        return run.predictions()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {run.predictions_path}: {exc}") from None


@dataclass(frozen=True)
class CellCover:
    sha256: str
    path: Path
    true_genre: str
    predicted: str
    probability: float  # of the predicted genre
    p_true: float

    @property
    def caption(self) -> str:
        return f"true {self.true_genre} · predicted {self.predicted} ({self.probability:.0%})"


def cell_covers(
    rows: list[dict[str, str]], method: str, true: str, predicted: str, split: str = "test"
) -> list[CellCover]:
    """The covers of one confusion cell, most confident prediction first."""
    col = f"{method}.predicted"
    out = [
        CellCover(
            r["sha256"],
            Path(r["path"]),
            r["true_genre"],
            r[col],
            float(r[f"{method}.p.{predicted}"]),
            float(r[f"{method}.p.{true}"]),
        )
        for r in rows
        if r["split"] == split and r["true_genre"] == true and r.get(col) == predicted
    ]
    return sorted(out, key=lambda c: (-c.probability, c.sha256))


def page(items: list, number: int, size: int) -> list:
    """Page ``number`` (1-based) of ``items``."""
    start = (max(1, number) - 1) * size
    return items[start : start + size]


def pages(n: int, size: int) -> int:
    return max(1, -(-n // size))


def confused_pairs(report: RunReport, method: str, n: int = 3) -> list[dict[str, Any]]:
    """The most confused (true, predicted) pairs of ``method`` on test."""
    test = report.scores(method)
    genres = report.metrics.genres or sorted(test.get("per_class") or {})
    if "confusion" not in test:
        return []
    return top_confused_pairs(test["confusion"], genres, n=n)


def confusion_counts(report: RunReport, method: str) -> list[list[int]]:
    return report.scores(method).get("confusion") or []


# -- two runs side by side -----------------------------------------------------------------------


def _config(run_dir: Path) -> dict[str, Any]:
    return Run(run_dir).config().get("resolved") or {}


def _wf1(report: RunReport, method: str) -> float | None:
    return report.scores(method).get("weighted_f1")


def compare_runs(a: RunReport, b: RunReport) -> dict[str, Any]:
    """Per-method and per-genre test F1 of two runs, and what differs in config/dataset."""
    methods = list(dict.fromkeys([*a.methods, *b.methods]))
    by_method = []
    for m in methods:
        fa, fb = _wf1(a, m), _wf1(b, m)
        delta = fb - fa if fa is not None and fb is not None else None
        by_method.append({"method": m, "A test wF1": fa, "B test wF1": fb, "B - A": delta})
    by_genre = []
    for m in methods:
        pa = {r["genre"]: r for r in a.per_class_rows(m)}
        pb = {r["genre"]: r for r in b.per_class_rows(m)}
        for g in sorted(set(pa) | set(pb)):
            fa, fb = (pa.get(g) or {}).get("f1"), (pb.get(g) or {}).get("f1")
            delta = fb - fa if fa is not None and fb is not None else None
            by_genre.append({"method": m, "genre": g, "A F1": fa, "B F1": fb, "B - A": delta})
    ca, cb = _config(a.run_dir), _config(b.run_dir)
    config_diff = [
        {"setting": k, "A": json.dumps(ca.get(k)), "B": json.dumps(cb.get(k))}
        for k in sorted(set(ca) | set(cb))
        if k not in _NOISE_KEYS and ca.get(k) != cb.get(k)
    ]
    ids = (a.metrics.dataset_id, b.metrics.dataset_id)
    return {
        "by_method": by_method,
        "by_genre": by_genre,
        "config_diff": config_diff,
        "dataset_ids": ids,
        "same_dataset": ids[0] == ids[1],
        "best": (a.best_method, b.best_method),
    }
