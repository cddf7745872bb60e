"""The run directory's one owner: its layout, the :class:`Run` type and ``runs/LATEST``.

A run directory holds what ``train-and-evaluate`` wrote for one export: ``metrics.json``,
``config.json``, ``model.pt`` (the shipped method), per-method outputs (``predictions.csv``,
``probabilities.npz``, ``confusion_<method>.png``), figures, reports, ``label_issues.csv`` and
fine-tune ``checkpoints/``. The writers (outputs.py, classifier.save_model, label_issues.py,
the fine-tune rung) take their paths from a :class:`Run`; predict, the app, review and the
CLIs read through it. Light on purpose (no torch), so every layer can import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sleeve.core import csvfile
from sleeve.core.errors import DataError
from sleeve.core.fsutil import atomic_write, read_pointer, write_pointer
from sleeve.inference.run_metrics import RunMetrics

METRICS = "metrics.json"
CONFIG = "config.json"
MODEL = "model.pt"
PREDICTIONS = "predictions.csv"
PROBABILITIES = "probabilities.npz"
LABEL_ISSUES = "label_issues.csv"
CONFUSED_PAIRS = "confused_pairs.png"
LEARNING_CURVE = "learning_curve.png"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
MODEL_CARD = "model_card.md"
CHECKPOINTS = "checkpoints"


def confusion_name(method: str) -> str:
    return f"confusion_{method}.png"


@dataclass(frozen=True)
class Run:
    """A run directory (it may be unfinished: :attr:`finished` says whether metrics exist)."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def metrics_path(self) -> Path:
        return self.root / METRICS

    @property
    def model_path(self) -> Path:
        return self.root / MODEL

    @property
    def predictions_path(self) -> Path:
        return self.root / PREDICTIONS

    @property
    def probabilities_path(self) -> Path:
        return self.root / PROBABILITIES

    @property
    def label_issues_path(self) -> Path:
        return self.root / LABEL_ISSUES

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def report_html(self) -> Path:
        return self.root / REPORT_HTML

    def confusion_png(self, method: str) -> Path:
        return self.root / confusion_name(method)

    @property
    def finished(self) -> bool:
        return self.metrics_path.is_file()

    # -- readers -----------------------------------------------------------------------------

    def metrics(self) -> RunMetrics:
        """metrics.json; FileNotFoundError when the run did not finish, DataError if damaged."""
        doc = self._json(self.metrics_path)
        try:
            return RunMetrics.from_dict(doc)
        except DataError as exc:
            raise DataError(f"{self.metrics_path}: {exc}") from None

    def config(self) -> dict[str, Any]:
        """config.json ({} when absent or unreadable: it only describes the run)."""
        try:
            return self._json(self.root / CONFIG)
        except (FileNotFoundError, DataError):
            return {}

    def predictions(self) -> list[dict[str, str]]:
        """predictions.csv's rows (training/reporting/predictions.py documents the columns)."""
        return _csv_rows(self.predictions_path)

    def label_issues(self) -> list[dict[str, str]]:
        return _csv_rows(self.label_issues_path)

    @staticmethod
    def _json(path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise DataError(f"{path} is not a JSON object")
        return doc

    # -- writer --------------------------------------------------------------------------------

    def write(self, name: str, data: bytes | str) -> Path:
        """Write one file of the run atomically (temporary beside it, then renamed)."""
        atomic_write(self.root / name, data)
        return self.root / name


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return csvfile.read_dicts(f)


@dataclass
class RunResult:
    """What train_and_evaluate returns: the run written, its metrics and the shipped method."""

    run: Run
    metrics: RunMetrics
    best_method: str

    @property
    def run_dir(self) -> Path:
        return self.run.root


def default_run_dir(runs_root: Path, dataset_id: str) -> Path:
    return runs_root / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{dataset_id}"


def finished_runs(runs_root: Path) -> list[Run]:
    """Finished runs under ``runs_root``, newest first; LATEST's target leads."""
    found = (
        [Run(p) for p in runs_root.iterdir() if p.is_dir() and Run(p).finished]
        if runs_root.is_dir()
        else []
    )
    found.sort(key=lambda r: (r.metrics_path.stat().st_mtime, r.root.name), reverse=True)
    latest = latest_run(runs_root)
    if latest is not None and latest.root.is_dir() and latest.finished:
        here = latest.root.resolve()
        found = [Run(here)] + [r for r in found if r.root.resolve() != here]
    return found


# -- LATEST ------------------------------------------------------------------------------------


def write_latest_run(runs_root: Path, run_dir: Path) -> Path:
    """Point ``<data_dir>/runs/LATEST`` at ``run_dir`` (written atomically)."""
    return write_pointer(runs_root, run_dir)


def latest_run(runs_root: Path) -> Run | None:
    """The run ``<data_dir>/runs/LATEST`` names (it may no longer exist), or None."""
    target = read_pointer(runs_root)
    return None if target is None else Run(target)
