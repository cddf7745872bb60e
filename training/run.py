"""train-and-evaluate: one dataset export in, one run directory out.

    load_data -> embed once (cached) -> fit each method, choosing its settings on val
    -> pick the best method on val -> evaluate every method once on test -> write the run dir

Test images are only ever passed through finished predictors, after all choices are made.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from sleeve.training.backbones import (
    DEFAULT_BACKBONE,
    STACK_SEP,
    STACK_WEIGHTS_ERROR,
    Backbone,
    configure_threads,
    load_backbone,
    resolve_device,
)
from sleeve.training.classifier import package, save_model
from sleeve.training.data import Export, load_export
from sleeve.training.embeddings import FeatureRecipe, cached_embeddings, encode
from sleeve.training.evaluate import classification_metrics
from sleeve.training.heads_runtime import head_probabilities
from sleeve.training.label_issues import write_label_issues
from sleeve.training.methods import (
    ALL_METHODS,
    EMBEDDING_METHODS,
    PROJECTED_METHODS,
    FittedHead,
)
from sleeve.training.methods.heads import EMBEDDING_FITTERS, catboost_available, fit_ensemble
from sleeve.training.methods.knn import fit_knn
from sleeve.training.methods.text import TEXT_METHODS, run_text_methods
from sleeve.training.outputs import write_run_dir
from sleeve.training.recipes import BEST
from sleeve.training.selection import VAL_MIN_COVERS
from sleeve.training.side_features import SIDE_HELP, is_side_method

from sleeve.errors import ConfigError

log = logging.getLogger(__name__)
# "hybrid" is asked for by name: it measured level with the stack SVC (README) and doubles
# the network work per cover. "text" and "fused" read the export's text.jsonl (skipped, with a
# warning, when it is absent): fused won on val on all three split seeds (benchmarks/text.py)
DEFAULT_METHODS = (
    "knn",
    "logreg",
    "svc",
    "rf",
    "catboost",
    "ensemble",
    "finetune",
    "text",
    "fused",
)


@dataclass
class TrainConfig:
    methods: tuple[str, ...] = DEFAULT_METHODS
    backbone: str = DEFAULT_BACKBONE
    weights: str = "auto"
    seed: int = 0
    epochs: int = 5
    image_size: int = 224  # embedding methods
    finetune_size: int | None = None  # None: 224 on GPU, 192 on CPU
    augment: str = "simple"
    device: str = "auto"
    resume: bool = False
    flip_tta: bool = False
    taps: tuple[int, ...] = ()
    style: bool = False
    batch_size: int = 32
    label_issues: bool = True  # label_issues.csv: out-of-fold confident learning on train+val
    learning_curve: bool = False  # nested train fractions + power law + advice (report)
    # below this many val covers the shipped method is chosen by grouped CV (training/selection)
    select_min_val: int = VAL_MIN_COVERS
    train_stages: int | None = None  # fine-tune: stages left trainable (None: 3 CPU, all GPU)
    finetune_attributes: bool = False  # fine-tune: attributes.csv beside the pooled features
    progress: bool = True

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in ALL_METHODS and not is_side_method(m)]
        if unknown or not self.methods:
            raise ConfigError(
                f"--method {','.join(unknown) or '(empty)'}: valid methods are "
                f"{', '.join(ALL_METHODS)}, early-fusion rungs ({SIDE_HELP}) or all"
            )
        if self.epochs < 1:
            raise ConfigError("--epochs must be >= 1")
        if self.image_size < 32:
            raise ConfigError("--image-size must be >= 32")
        names = self.backbone.split(STACK_SEP)
        if len(set(names)) != len(names):
            raise ConfigError(f"--backbone {self.backbone}: name each stacked backbone once")
        if len(names) > 1 and self.weights not in ("auto", "none"):
            raise ConfigError(STACK_WEIGHTS_ERROR)

    def recipe(self) -> FeatureRecipe:
        """The embedding methods' features (the hybrid's too)."""
        return FeatureRecipe(self.image_size, self.flip_tta, tuple(self.taps), style=self.style)


@dataclass
class MethodOutcome:
    fitted: FittedHead
    test_probs: np.ndarray
    images_per_second: float
    payload: dict  # model.pt for this method (only the best one is written)
    network: Backbone | None = None  # the fine-tuned backbone (finetune), for the hybrid
    val: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    best_method: str


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def default_run_dir(runs_root: Path, dataset_id: str) -> Path:
    return runs_root / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{dataset_id}"


def split_arrays(
    export: Export, feats: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Features and labels per split; ``feats`` rows follow ``export.samples``."""
    split_of = np.array([s.split for s in export.samples])
    x = {sp: feats[split_of == sp] for sp in ("train", "val", "test")}
    return x, {sp: _labels(export, sp) for sp in ("train", "val", "test")}


def _labels(export: Export, split: str) -> np.ndarray:
    return np.array([s.label for s in export.split(split)], dtype=np.int64)


def embedding_outcome(
    export: Export,
    config: TrainConfig,
    fitted: FittedHead,
    backbone: Backbone,
    recipe: FeatureRecipe,
    x_test: np.ndarray,
    per_image: float,
    **extra,
) -> MethodOutcome:
    """A head on backbone features: its test probabilities, throughput and model.pt payload."""
    test_probs = head_probabilities(fitted.head, x_test)
    ips = 1.0 / (per_image + head_seconds(fitted.head, x_test[:64]))
    payload = package(
        method=fitted.method,
        kind="embedding-head",
        genres=export.genres,
        dataset_id=export.dataset_id,
        backbone=backbone,
        weights=config.weights,
        recipe=recipe,
        head=fitted.head,
        extra={"params": fitted.params, **extra},
    )
    return MethodOutcome(fitted, test_probs, ips, payload)


def backbone_seconds(export: Export, backbone, recipe: FeatureRecipe, device, n: int = 64) -> float:
    """Seconds per image for decode + preprocess + forward, measured on test covers."""
    probe = export.split("test")[:n]
    start = time.perf_counter()
    encode(probe, backbone, recipe, device, batch_size=32, progress=False)
    return (time.perf_counter() - start) / max(1, len(probe))


def head_seconds(head: dict, x: np.ndarray) -> float:
    start = time.perf_counter()
    head_probabilities(head, x)
    return (time.perf_counter() - start) / max(1, len(x))


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
        from sleeve.training.methods.projected import fit_projected_methods

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
    cache_root = Path(data_dir) / "cache" / "embeddings" if data_dir else None

    features: dict = {}
    outcomes = run_embedding_methods(export, config, device, cache_root, features)
    if "finetune" in config.methods or "hybrid" in config.methods:
        from sleeve.training.methods.finetune import run_finetune

        tuned = run_finetune(export, config, device, run_dir / "checkpoints")
        if "finetune" in config.methods:
            outcomes.append(tuned)
        if "hybrid" in config.methods:
            from sleeve.training.methods.hybrid import run_hybrid

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
    if any(is_side_method(m) for m in config.methods):  # early fusion (methods/side.py)
        from sleeve.training.methods.side import run_side_methods

        for o in run_side_methods(export, config, device, cache_root, features.get("x")):
            score_outcome(export, o)
            outcomes.append(o)
    if not outcomes:
        raise ConfigError("no method could be trained: see the messages above")
    # best on val; by grouped CV on train+val when val is small (training/selection.py)
    from sleeve.training.selection import choose_for_export

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
        from sleeve.training.headline import compute_headline

        extra["headline"] = compute_headline(export, features["x"], best, outcomes, config.seed)
    if config.learning_curve and "x" not in features:
        log.warning("--learning-curve needs an embedding method (e.g. svc): skipped")
    if config.learning_curve and "x" in features:
        from sleeve.training.learning_curve import learning_curve_for_run

        extra["learning_curve"] = learning_curve_for_run(
            export, features["x"], best, outcomes, config.seed
        )
    metrics = write_run_dir(
        run_dir,
        export,
        outcomes,
        best,
        config,
        resolved,
        total_seconds=time.perf_counter() - started,
        extra_metrics={k: v for k, v in extra.items() if v is not None},
    )
    save_model(best.payload, run_dir / "model.pt")
    if config.label_issues and "x" in features:  # the review queue (sleeve review)
        write_label_issues(run_dir, export, features["x"], config.seed)
    if data_dir is not None:
        runs_root = Path(data_dir) / "runs"
        runs_root.mkdir(parents=True, exist_ok=True)
        tmp = runs_root / "LATEST.tmp"
        tmp.write_text(str(run_dir.resolve()) + "\n", encoding="utf-8")
        tmp.replace(runs_root / "LATEST")
    return RunResult(run_dir, metrics, best.fitted.method)


def score_outcome(export: Export, o: MethodOutcome) -> None:
    o.val = classification_metrics(
        _labels(export, "val"), o.fitted.val_probs.argmax(1), export.genres
    )
    o.test = classification_metrics(_labels(export, "test"), o.test_probs.argmax(1), export.genres)


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
