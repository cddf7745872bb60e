"""`build-dataset`: deduplicate, label, balance and split the catalog into a training export."""

from __future__ import annotations

import argparse
from dataclasses import replace

from sleeve.core.catalog.db import open_catalog
from sleeve.core.cliutil import EXIT_OK, parser, printable, run_command, setup_logging
from sleeve.core.engine_choice import add_engine_option, engine_from_settings
from sleeve.core.errors import UsageError
from sleeve.core.settings import load_settings, redact
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.build import build_dataset
from sleeve.dataset.dedup.groups import DEFAULT_THRESHOLD
from sleeve.dataset.dedup.hashing import ALGOS
from sleeve.dataset.shards import DEFAULT_FORMAT, FORMATS
from sleeve.dataset.split import parse_fractions

EXAMPLES = f"""\
  build-dataset
      every genre in the catalog, 70/15/15 split, written to <data_dir>/datasets/<dataset_id>/
  build-dataset --balance --genres rap,pop,country
      three genres, large classes cut to the median class size (keeping artist diversity)
  build-dataset --per-class 500 --seed 1 --split 80/10/10 --out ./my-dataset
  build-dataset --format parquet --out ./covers-parquet
      the same dataset (same id) as Parquet files that pyarrow and Hugging Face datasets read
  build-dataset --hash dhash --threshold 8 --dry-run
      show what would be exported (counts, duplicates, label conflicts); write nothing
  build-dataset --attributes colour,texture,structure
      the cheap build: no faces (MTCNN) or style (Lite0) in attributes.csv

Near-duplicates: covers whose perceptual hash differs in <= --threshold of 64 bits
(default {DEFAULT_THRESHOLD}) are one group; only its largest-resolution cover is kept. A second
stage (--visual-dedup, on by default) adds the same album scanned, photographed or reissued
differently: EfficientNet-Lite0 embedding neighbours (the cache train-and-evaluate uses)
confirmed by ORB keypoints + RANSAC homography. The export path is the last line printed."""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "build-dataset",
        "Turn the catalog into a deduplicated, labelled, leak-free train/val/test dataset.",
        EXAMPLES,
    )
    p.add_argument(
        "--balance", action="store_true", help="undersample large classes to the median class size"
    )
    p.add_argument(
        "--per-class",
        type=int,
        metavar="N",
        help="undersample every class to at most N images (implies --balance)",
    )
    p.add_argument(
        "--genres",
        default="",
        metavar="G1,G2",
        help="only these genres (default: every genre with labelled covers)",
    )
    p.add_argument(
        "--out",
        metavar="DIR|URL",
        help="export directory or object-store URL such as s3://bucket/datasets/x "
        "(default: <data_dir>/datasets/<dataset_id>)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=DEFAULT_FORMAT,
        help="export layout: an ImageFolder tree (default), WebDataset tar shards or Parquet "
        "files; the manifest and dataset id are the same in each (see docs/storage.md)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for balance and split (default 0)")
    p.add_argument(
        "--hash",
        choices=sorted(ALGOS),
        default="phash",
        help="perceptual hash for near-duplicates (default phash)",
    )
    p.add_argument(
        "--threshold",
        type=int,
        default=DEFAULT_THRESHOLD,
        metavar="N",
        help=f"near-duplicate Hamming distance, 0..32 (default {DEFAULT_THRESHOLD})",
    )
    p.add_argument(
        "--visual-dedup",
        choices=("on", "off"),
        default=None,
        help="second duplicate stage: the same album scanned, photographed or reissued "
        "differently, found by embedding neighbours and confirmed by ORB + RANSAC (default on; "
        "SLEEVE_VISUAL_DEDUP)",
    )
    p.add_argument(
        "--attributes",
        default=None,
        metavar="on|off|A,B",
        help="cover attributes of every present cover, computed in the build's one pass, cached "
        "in the catalog, written to attributes.csv with a per-genre profile in the card "
        "(default on: all five groups, colour, texture, structure, faces, style; the cheap "
        "build: colour,texture,structure; off: none; names as `sleeve attributes --only`; "
        "SLEEVE_BUILD_ATTRIBUTES)",
    )
    p.add_argument(
        "--split",
        default="70/15/15",
        metavar="TRAIN/VAL/TEST",
        help="split percentages (default 70/15/15)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would be built and write no export (hashes are still cached)",
    )
    p.add_argument(
        "--no-text",
        action="store_true",
        help="do not read the words on the covers (OCR; read by default when installed)",
    )
    p.add_argument(
        "--group-by-artist",
        action="store_true",
        help="keep covers whose words name the same artist in one split (reads the words of "
        "every candidate cover first; artists.csv is written either way)",
    )
    add_engine_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        try:
            splits = parse_fractions(args.split)
        except ValueError as exc:
            raise UsageError(f"--split: {exc}") from None
        genres = [g.strip() for g in args.genres.split(",") if g.strip()] or None
        settings = load_settings()
        if args.visual_dedup is not None:
            settings = replace(settings, visual_dedup=args.visual_dedup == "on")
        taxonomy = Taxonomy.load(settings.taxonomy_path)
        engine = engine_from_settings(settings, args.engine)
        catalog = open_catalog(settings.catalog_url)
        try:
            result = build_dataset(
                catalog,
                settings,
                taxonomy,
                genres=genres,
                balance=args.balance,
                per_class=args.per_class,
                out=args.out,
                seed=args.seed,
                hash_algo=args.hash,
                threshold=args.threshold,
                splits=splits,
                dry_run=args.dry_run,
                progress=not args.no_progress,
                read_text=not args.no_text,
                attributes=args.attributes,
                group_by_artist=args.group_by_artist,
                engine=engine,
                fmt=args.format,
            )
        finally:
            catalog.dispose()
        for line in result.summary_lines():
            print(printable(line))  # genre names and paths: no control characters raw
        if result.export_dir is not None:
            print(printable(redact(result.export_dir)))  # a URL's credentials masked
        return EXIT_OK

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
