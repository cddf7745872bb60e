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
from sleeve.training.backbones import configure_threads, load_backbone, resolve_device
from sleeve.training.classifier import save_model
from sleeve.training.config import DEFAULT_METHODS, TrainConfig, seed_everything
from sleeve.training.data import Export, load_export
from sleeve.training.embeddings import cached_embeddings
from sleeve.training.evaluate import classification_metrics
from sleeve.training.headline import compute_headline
from sleeve.training.label_issues import write_label_issues
from sleeve.training.learning_curve import learning_curve_for_run
from sleeve.training.methods import (
    EMBEDDING_METHODS,
    PROJECTED_METHODS,
    FittedHead,
    MethodOutcome,
)
from sleeve.training.methods.embedding import (
    backbone_seconds,
    embedding_outcome,
    split_arrays,
    split_labels,
)
from sleeve.training.methods.finetune import run_finetune
from sleeve.training.methods.heads import EMBEDDING_FITTERS, catboost_available, fit_ensemble
from sleeve.training.methods.hybrid import run_hybrid
from sleeve.training.methods.knn import fit_knn
from sleeve.training.methods.projected import fit_projected_methods
from sleeve.training.methods.text import TEXT_METHODS, run_text_methods
from sleeve.training.outputs import write_run_dir
from sleeve.training.recipes import BEST
from sleeve.training.rundir import Run, RunResult, default_run_dir, write_latest_run
from sleeve.training.selection import choose_for_export

from sleeve.errors import ConfigError

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


def run_embedding_methods(
    export: Export,
    config: TrainConfig,
    device: torch.device,
    cache_root: Path | None,
    features_out: dict | None = None,
) -> list[MethodOutcome]:
    """``features_out`` (optional) receives the features under "x" (rows follow
    ``export.samples``), for the label-issue scores."""
    wanted = [m for m in config.methods if m in EMBEDDING_METHODS]
    if "ensemble" in config.methods and not wanted:
        wanted = ["logreg", "svc"]
    if "catboost" in wanted and not catboost_available():
        if tuple(config.methods) != DEFAULT_METHODS:  # asked for by name: say what is missing
            raise ConfigError(
                "method catboost needs the optional extra: pip install 'sleeve[catboost]'"
            )
        wanted.remove("catboost")  # the default ladder goes on without the optional extra
    projected = [m for m in config.methods if m in PROJECTED_METHODS]
    if not wanted and not projected:
        return []
    backbone = load_backbone(config.backbone, config.weights, device)
    recipe = config.recipe()
    feats = cached_embeddings(
        export.samples,
        backbone,
        recipe,
        device,
        cache_root,
        batch_size=config.batch_size,
        progress=config.progress,
    )
    if features_out is not None:
        features_out["x"] = feats
    x, y = split_arrays(export, feats)
    per_image = backbone_seconds(export, backbone, recipe, device)
    fitted: list[FittedHead] = []
    for method in wanted:
        if method == "knn":
            fitted.append(fit_knn(x["train"], y["train"], x["val"], y["val"], export.genres))
        else:
            fitter = EMBEDDING_FITTERS[method]
            fitted.append(
                fitter(x["train"], y["train"], x["val"], y["val"], export.genres, seed=config.seed)
            )
    if projected:
        fitted += fit_projected_methods(projected, x, y, export.genres, seed=config.seed)
    if "ensemble" in config.methods and len(fitted) > 1:
        ens = fit_ensemble(fitted, y["val"], export.genres)
        members = ens.params["members"]
        ens.train_seconds += sum(f.train_seconds for f in fitted if f.method in members)
        fitted.append(ens)
    return [
        embedding_outcome(export, config, f, backbone, recipe, x["test"], per_image)
        for f in fitted
        if f.method in config.methods  # others were fitted only as ensemble members
    ]


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
    default run dir (<data_dir>/runs/<UTC time>-<dataset_id>) and <data_dir>/runs/LATEST."""
    config = config or TrainConfig()
    config.validate()
    if out_dir is None and data_dir is None:
        raise ConfigError("give an output directory (--out DIR) or a data dir (SLEEVE_DATA_DIR)")
    seed_everything(config.seed)
    device = resolve_device(config.device)
    configure_threads(device)
    started = time.perf_counter()
    export = load_export(export_dir)
    run_dir = (
        Path(out_dir) if out_dir else default_run_dir(Path(data_dir) / "runs", export.dataset_id)
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(run_dir)
    cache_root = Path(data_dir) / "cache" / "embeddings" if data_dir else None

    features: dict = {}
    outcomes = run_embedding_methods(export, config, device, cache_root, features)
    if "finetune" in config.methods or "hybrid" in config.methods:
        tuned = run_finetune(export, config, device, run.checkpoints_dir)
        if "finetune" in config.methods:
            outcomes.append(tuned)
        if "hybrid" in config.methods:
            assert tuned.network is not None
            hybrid = run_hybrid(export, config, device, cache_root, tuned.network)
            hybrid.fitted.train_seconds += tuned.fitted.train_seconds  # its fine-tune counts
            outcomes.append(hybrid)

    for o in outcomes:
        score_outcome(export, o)
    text_wanted = tuple(m for m in config.methods if m in TEXT_METHODS)
    if text_wanted:  # after the image rungs: fusion picks the best of them on val
        # the ladder and the default recipe read the words when the export has them
        asked = tuple(config.methods) not in (DEFAULT_METHODS, BEST.methods)
        for o in run_text_methods(export, text_wanted, outcomes, config.seed, asked):
            score_outcome(export, o)
            outcomes.append(o)
    if not outcomes:
        raise ConfigError("no method could be trained: see the messages above")
    # best on val; by grouped CV on train+val when val is small (training/selection.py)
    best, selection = choose_for_export(
        export, features.get("x"), outcomes, config.seed, config.select_min_val
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
    if "x" in features:  # the headline: grouped CV of the chosen head (training/headline.py)
        extra["headline"] = compute_headline(export, features["x"], best, outcomes, config.seed)
    if config.learning_curve and "x" not in features:
        log.warning("--learning-curve needs an embedding method (e.g. svc): skipped")
    if config.learning_curve and "x" in features:
        extra["learning_curve"] = learning_curve_for_run(
            export, features["x"], best, outcomes, config.seed
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
    if config.label_issues and "x" in features:  # the review queue (sleeve review)
        write_label_issues(run_dir, export, features["x"], config.seed)
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
