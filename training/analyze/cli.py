"""`sleeve analyze`: map, cluster and compare the genres of a dataset export on cached features."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sleeve.core.cliutil import EXIT_OK, parser, run_command, setup_logging
from sleeve.core.errors import ConfigError, DataError
from sleeve.core.fsutil import write_pointer
from sleeve.core.settings import load_settings
from sleeve.inference.rundir import Run

EXAMPLES = """\
  sleeve analyze
      the newest build-dataset export, on the default features (Lite0, 224 px, cached by
      train-and-evaluate); the page goes to <data_dir>/analysis/<dataset id>/
  sleeve analyze --run "$(cat $SLEEVE_DATA_DIR/runs/LATEST)"
      the run's dataset and features, its best method's test confusion for the tree, and,
      when its model is a projected one (lda-*, supcon-*), pair separation in that space;
      the page goes to <run>/analysis/
  sleeve analyze --dataset DIR --map tsne --seed 1 --out /tmp/analysis"""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "sleeve analyze",
        "Find the genres that are hard to tell apart: a 2-D map of the covers, k-means "
        "clusters with their genre mix and thumbnails, genre-similarity trees from centroids "
        "and from the confusion matrix, and per genre pair a separation score on test covers. "
        "Reuses the cached embeddings; writes analysis.md/html/json and figures/.",
        EXAMPLES,
    )
    p.add_argument("--dataset", type=Path, metavar="DIR", help="export dir (default: newest)")
    p.add_argument("--run", type=Path, metavar="RUN_DIR", help="a train-and-evaluate run dir")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write the page")
    p.add_argument(
        "--map", default="auto", choices=("auto", "umap", "tsne"), help="default: umap if installed"
    )
    p.add_argument("--backbone", help="features (default: the run's, else efficientnet_lite0)")
    p.add_argument("--seed", type=int, default=0, help="default: 0")
    return p


def run_inputs(run: Path | None) -> tuple[dict, dict | None, dict | None]:
    """(resolved training config, best method's test confusion info, projection) of a run."""
    if run is None:
        return {}, None, None
    if not Run(run).finished:
        raise ConfigError(f"--run {run}: no metrics.json there; pass a train-and-evaluate run")
    try:
        metrics = Run(run).metrics()
    except DataError as exc:
        raise DataError(f"{exc}; pass another --run") from None
    config = Run(run).config().get("resolved", {})
    best = metrics.best.method
    cm = metrics.methods[best].test.get("confusion") if best in metrics.methods else None
    confusion = (
        {"matrix": cm, "source": f"the run's best method ({best}), test covers"} if cm else None
    )
    projection = None
    if Run(run).model_path.is_file():
        from sleeve.inference.classifier import Classifier

        head = Classifier.load(run).head  # refuses pickles; builds no files
        if head.get("type") == "projected":
            projection = head["projection"]
    return config, confusion, projection


def run_analysis(
    dataset: Path | None,
    run: Path | None,
    out: Path | None,
    *,
    data_dir: Path,
    backbone: str | None = None,
    seed: int = 0,
    map_method: str = "auto",
    progress: bool = False,
) -> tuple[Path, dict]:
    """Analyse a dataset (or a run's) on cached features and write the page; returns its
    folder and analysis.json's content. <data_dir>/analysis/LATEST names the folder."""
    import torch

    from sleeve.core.vision.backbones import DEFAULT_BACKBONE, configure_threads, load_backbone
    from sleeve.core.vision.embeddings import FeatureRecipe, cached_embeddings
    from sleeve.training.analyze.analysis import analyse
    from sleeve.training.analyze.page import write_page
    from sleeve.training.cli import resolve_dataset
    from sleeve.training.data import load_export

    config, confusion, projection = run_inputs(run)
    if dataset is None and config.get("export_dir"):
        dataset = Path(config["export_dir"])
    export = load_export(resolve_dataset(dataset, data_dir))
    backbone_name = backbone or config.get("backbone") or DEFAULT_BACKBONE
    same_features = backbone is None or backbone == config.get("backbone")
    recipe = FeatureRecipe(
        int(config.get("image_size", 224)) if same_features else 224,
        bool(config.get("flip_tta", False)) and same_features,
        tuple(config.get("taps", ())) if same_features else (),
        style=bool(config.get("style", False)) and same_features,
    )
    if not same_features:
        confusion = projection = None  # they belong to the run's features
    device = torch.device("cpu")
    configure_threads(device)
    net = load_backbone(backbone_name, config.get("weights", "auto"), device)
    feats = cached_embeddings(
        export.samples, net, recipe, device, data_dir / "cache" / "embeddings", progress=progress
    )
    result = analyse(
        feats,
        np.array([s.label for s in export.samples]),
        np.array([s.split for s in export.samples]),
        export.genres,
        seed=seed,
        map_method=map_method,
        confusion=np.asarray(confusion["matrix"]) if confusion else None,
        confusion_source=confusion["source"] if confusion else "",
        projection=projection,
    )
    out = out or (run / "analysis" if run else data_dir / "analysis" / export.dataset_id)
    meta = {
        "dataset_id": export.dataset_id,
        "export_dir": str(export.root),
        "features": f"{backbone_name} {recipe.key}",
        "run_dir": str(run) if run else None,
        "projection": projection.get("kind") if projection else None,
    }
    doc = write_page(out, result, export.samples, export.genres, meta)
    write_pointer(data_dir / "analysis", out)
    return out, doc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        settings = load_settings()
        out, doc = run_analysis(
            args.dataset,
            args.run,
            args.out,
            data_dir=settings.data_dir,
            backbone=args.backbone,
            seed=args.seed,
            map_method=args.map,
            progress=not args.no_progress,
        )
        print_summary(doc)
        print(out)  # last line: scripts take the page's folder from here
        return EXIT_OK

    return run_command(body)


def print_summary(doc: dict) -> None:
    c = doc["clusters"]
    print(f"dataset {doc['dataset_id']}: {len(doc['points'])} covers, map {doc['map']['method']}")
    print(f"clusters: k = {c['k']} ({c['criterion']})")
    regions = c["confusable_regions"]
    print("confusable regions: " + ("; ".join(regions) if regions else "none"))
    print("least separated pairs (test silhouette, kNN mix):")
    for r in doc["separation"]["features"][:3]:
        print(f"  {' / '.join(r['pair']):<24} {r['silhouette']:+.3f}  {r['knn_mix']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
