"""Write a finished run's files: metrics.json, figures, report, model card, config.json.

Computation happened before; this module only turns results into files (each written to a
temporary name and renamed, so a reader never sees half a file).
"""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sleeve.core import __version__
from sleeve.inference.run_metrics import BestMethod, MethodMetrics, RunMetrics
from sleeve.inference.rundir import (
    CONFIG,
    CONFUSED_PAIRS,
    LEARNING_CURVE,
    METRICS,
    MODEL_CARD,
    PREDICTIONS,
    REPORT_HTML,
    REPORT_MD,
    Run,
    confusion_name,
)
from sleeve.training.evaluation.artist_split import artist_breakdown
from sleeve.training.evaluation.learning_curve import learning_curve_png
from sleeve.training.evaluation.metrics import confused_pairs_png, confusion_png, top_confused_pairs
from sleeve.training.reporting.predictions import (
    probability_arrays,
    render_predictions,
    write_probabilities,
)
from sleeve.training.reporting.report import render_html, render_markdown, render_model_card

if TYPE_CHECKING:
    from sleeve.training.config import TrainConfig
    from sleeve.training.data import Export
    from sleeve.training.fit.methods import MethodOutcome


def code_version() -> str:
    """``sleeve <version>``, plus the git commit when running from a checkout."""
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"sleeve {__version__}" + (f" (git {commit})" if commit else "")


def confused_examples(
    export: Export, test_pred: np.ndarray, pairs: list[dict]
) -> dict[tuple[str, str], list[Path]]:
    wanted = {(p["true"], p["predicted"]) for p in pairs}
    out: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for sample, pred in zip(export.split("test"), test_pred, strict=True):
        key = (sample.genre, export.genres[int(pred)])
        if key in wanted:
            out[key].append(sample.path)
    return out


def build_metrics(
    export: Export,
    outcomes: list[MethodOutcome],
    best: MethodOutcome,
    config: TrainConfig,
    total_seconds: float,
) -> RunMetrics:
    return RunMetrics(
        dataset_id=export.dataset_id,
        backbone=config.backbone,
        weights=best.payload["backbone"]["source"],
        genres=export.genres,
        methods={
            o.fitted.method: MethodMetrics(
                val=o.val,
                test=o.test,
                train_seconds=round(o.fitted.train_seconds, 3),
                images_per_second=round(o.images_per_second, 2),
                params=_jsonable(o.fitted.params),
            )
            for o in outcomes
        },
        best=BestMethod(
            method=best.fitted.method,
            val_weighted_f1=best.val["weighted_f1"],
            test_weighted_f1=best.test["weighted_f1"],
        ),
        selection="best val weighted F1; test evaluated once per method after selection",
        seed=config.seed,
        counts=export.counts(),
        skipped_images=dict(export.skipped),
        total_seconds=round(total_seconds, 1),
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_run_dir(
    run: Run,
    export: Export,
    outcomes: list[MethodOutcome],
    best: MethodOutcome,
    config: TrainConfig,
    resolved: dict,
    total_seconds: float,
    extra_metrics: dict | None = None,
) -> RunMetrics:
    metrics = build_metrics(export, outcomes, best, config, total_seconds)
    # model_selection / selection / headline / learning_curve blocks (training/evaluation/)
    blocks = _jsonable(extra_metrics or {})
    known = {f.name for f in fields(RunMetrics)} - {"extra"}
    metrics = replace(
        metrics,
        **{k: v for k, v in blocks.items() if k in known},
        extra=metrics.extra | {k: v for k, v in blocks.items() if k not in known},
    )
    arrays = probability_arrays(export, outcomes)
    by_artist = artist_breakdown(export, arrays)  # seen/unseen artist (export's artists.csv)
    if by_artist:
        metrics.artists = by_artist
    run.write(METRICS, json.dumps(metrics.to_dict(), indent=2))
    # every method's val/test probabilities per cover, keyed by sha256
    # (training/reporting/predictions.py documents the row order), so a run can be re-analysed
    # from a metric back to its covers
    write_probabilities(run.probabilities_path, arrays)
    run.write(PREDICTIONS, render_predictions(export, outcomes))

    figures: dict[str, bytes] = {}
    for o in outcomes:
        name = confusion_name(o.fitted.method)
        png = confusion_png(
            o.test["confusion"],
            export.genres,
            f"{o.fitted.method}: test weighted F1 {o.test['weighted_f1']:.3f}",
        )
        run.write(name, png)
        figures[name] = png
    pairs = top_confused_pairs(best.test["confusion"], export.genres, n=3)
    examples = confused_examples(export, best.test_probs.argmax(1), pairs)
    figures[CONFUSED_PAIRS] = confused_pairs_png(pairs, examples)
    run.write(CONFUSED_PAIRS, figures[CONFUSED_PAIRS])

    if metrics.learning_curve:
        figures[LEARNING_CURVE] = learning_curve_png(metrics.learning_curve, export.genres)
        run.write(LEARNING_CURVE, figures[LEARNING_CURVE])
    run.write(REPORT_MD, render_markdown(metrics, export.card, pairs))
    run.write(REPORT_HTML, render_html(metrics, export.card, pairs, figures))
    run.write(MODEL_CARD, render_model_card(metrics, export.card, best.payload))
    config_doc = {
        "resolved": resolved,
        "seed": config.seed,
        "code_version": code_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "dataset_id": export.dataset_id,
        "backbone": best.payload["backbone"],
    }
    run.write(CONFIG, json.dumps(_jsonable(config_doc), indent=2, default=str))
    return metrics
