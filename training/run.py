"""train-and-evaluate: one dataset export in, one run directory out.

    load_data -> embed once (cached) -> fit each method, choosing its settings on val
    -> pick the best method on val -> evaluate every method once on test -> write the run dir

Test images are only ever passed through finished predictors, after all choices are made.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch

from sleeve.core.errors import ConfigError
from sleeve.core.vision.backbones import configure_threads, resolve_device
from sleeve.inference.classifier import save_model
from sleeve.inference.rundir import Run, RunResult, default_run_dir, write_latest_run
from sleeve.training.config import DEFAULT_METHODS, TrainConfig, seed_everything
from sleeve.training.data import Export, load_export
from sleeve.training.distributed import join, same_on_all
from sleeve.training.evaluation.confidence import coverage_curve
from sleeve.training.evaluation.headline import TEXT_RUNGS, compute_headline
from sleeve.training.evaluation.label_issues import write_label_issues
from sleeve.training.evaluation.learning_curve import learning_curve_for_run
from sleeve.training.evaluation.metrics import classification_metrics
from sleeve.training.evaluation.selection import choose_for_export
from sleeve.training.fit.methods import Method, MethodOutcome, RungContext
from sleeve.training.fit.methods.embedding import EmbeddingRung, split_arrays, split_labels
from sleeve.training.fit.methods.finetune import FineTuneRung, run_finetune
from sleeve.training.fit.methods.side import SideRung
from sleeve.training.fit.methods.text import TextRung, export_texts, require_words
from sleeve.training.recipes import BEST
from sleeve.training.reporting.outputs import write_run_dir

# the public API callers import from here (the orchestrator); nothing run.py imports imports it
__all__ = [
    "DEFAULT_METHODS",
    "MethodOutcome",
    "RunResult",
    "TrainConfig",
    "seed_everything",
    "split_arrays",
    "train_and_evaluate",
]

log = logging.getLogger(__name__)
# the ladder, in order: embedding heads (kNN ... ensemble, projected), fine-tune + hybrid, then
# the text rung and its fusion with the best image rung on val, then early fusion of side
# features (asked for by name)
FINETUNE = FineTuneRung()  # the one rung every torchrun rank joins
RUNGS: tuple[Method, ...] = (EmbeddingRung(), FINETUNE, TextRung(), SideRung())


def _prepare(
    export_dir: Path | str, out_dir: Path | None, config: TrainConfig, data_dir: Path | None
) -> tuple[Export, Run, torch.device]:
    """The export, the run directory (rank 0's name on every torchrun rank) and the device."""
    config.validate()
    if out_dir is None and data_dir is None:
        raise ConfigError("give an output directory (--out DIR) or a data dir (SLEEVE_DATA_DIR)")
    seed_everything(config.seed)
    _, device = join(resolve_device(config.device))  # under torchrun (training/distributed.py)
    configure_threads(device)
    export = load_export(export_dir)
    if tuple(config.methods) == BEST.methods:
        require_words(export)  # the default recipe never silently becomes image-only
    run_dir = out_dir or default_run_dir(Path(data_dir) / "runs", export.dataset_id)  # type: ignore[arg-type]
    return export, Run(Path(str(same_on_all(str(run_dir))))), device


def help_train(
    export_dir: Path | str,
    out_dir: Path | None = None,
    config: TrainConfig | None = None,
    *,
    data_dir: Path | None = None,
) -> None:
    """A torchrun rank other than 0: join the fine-tune rung's training, write nothing (rank 0
    runs :func:`train_and_evaluate`, the other rungs and every output)."""
    config = config or TrainConfig()
    export, run, device = _prepare(export_dir, out_dir, config, data_dir)
    if FINETUNE.wanted(config):
        run_finetune(export, config, device, run.checkpoints_dir)


def train_and_evaluate(
    export_dir: Path | str,
    out_dir: Path | None = None,
    config: TrainConfig | None = None,
    *,
    data_dir: Path | None = None,
    extra_config: dict | None = None,
) -> RunResult:
    """Train ``config.methods`` on the export, evaluate, and write a run directory.

    ``data_dir`` (optional) gives the embedding cache (<data_dir>/cache/embeddings), the
    default run dir (<data_dir>/runs/<UTC time>-<dataset_id>) and <data_dir>/runs/LATEST.
    Under torchrun this is rank 0's part; the other ranks run :func:`help_train`."""
    config = config or TrainConfig()
    started = time.perf_counter()
    export, run, device = _prepare(export_dir, out_dir, config, data_dir)
    run_dir = run.root
    run_dir.mkdir(parents=True, exist_ok=True)
    cache_root = Path(data_dir) / "cache" / "embeddings" if data_dir else None
    ctx = RungContext(export, config, device, cache_root, run)
    for rung in RUNGS:  # ladder order: fusion (text rung) reads the image rungs' scores
        if rung.wanted(config):
            for outcome in rung.fit(ctx):
                score_outcome(export, outcome)
                ctx.outcomes.append(outcome)
    outcomes, features = ctx.outcomes, ctx.features
    if not outcomes:
        raise ConfigError("no method could be trained: see the messages above")
    # best on val; by grouped CV on train+val when val is small (training/evaluation/selection.py)
    # the words, when a text rung ran: the CV rule and the headline refit it per fold
    texts = export_texts(export) if any(o.fitted.method in TEXT_RUNGS for o in outcomes) else None
    best, selection = choose_for_export(
        export, features.get("x"), outcomes, config.seed, config.select_min_val, texts
    )
    resolved = {
        **asdict(config),
        "taps": list(config.taps),
        "export_dir": str(export_dir),
        "device_used": str(device),
        "torch_threads": torch.get_num_threads(),
        **(extra_config or {}),
    }
    extra: dict = {"model_selection": selection}
    if selection["rule"] != "val":
        extra["selection"] = selection["detail"] + "; test evaluated once per method"
    # the headline: grouped CV of the chosen head (training/evaluation/headline.py)
    if "x" in features:
        extra["headline"] = compute_headline(
            export, features["x"], best, outcomes, config.seed, texts=texts
        )
    if config.learning_curve and "x" not in features:
        log.warning("--learning-curve needs an embedding method (e.g. svc): skipped")
    if config.learning_curve and "x" in features:
        extra["learning_curve"] = learning_curve_for_run(
            export, features["x"], best, outcomes, config.seed
        )
    extra["confidence"] = {  # answer only above a top probability (predict --min-confidence)
        "method": best.fitted.method,
        "points": coverage_curve(
            best.fitted.val_probs, best.test_probs, split_labels(export, "test")
        ),
    }
    fused = [o.artist_table for o in outcomes if o.artist_table is not None]
    if fused:  # the fused rung's artist table: its size and its test figures
        extra["artist_table"] = fused[0]
    if config.label_issues and "x" in features:  # the review queue (sleeve review)
        extra["label_issues"] = write_label_issues(
            run_dir, export, features["x"], config.seed, best, outcomes, texts
        )
    metrics = write_run_dir(
        run,
        export,
        outcomes,
        best,
        config,
        resolved,
        total_seconds=time.perf_counter() - started,
        extra_metrics={k: v for k, v in extra.items() if v is not None},
    )
    save_model(best.payload, run.model_path)
    if data_dir is not None:
        write_latest_run(Path(data_dir) / "runs", run_dir)
    return RunResult(run, metrics, best.fitted.method)


def score_outcome(export: Export, o: MethodOutcome) -> None:
    o.val = classification_metrics(
        split_labels(export, "val"), o.fitted.val_probs.argmax(1), export.genres
    )
    o.test = classification_metrics(
        split_labels(export, "test"), o.test_probs.argmax(1), export.genres
    )
