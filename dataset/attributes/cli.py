"""`sleeve attributes`: compute and cache cover attributes for every cover in the catalog."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sqlalchemy import select

from sleeve.core.cliutil import (
    EXIT_FAILED,
    EXIT_OK,
    parser,
    print_table,
    run_command,
    setup_logging,
)
from sleeve.core.engine_choice import add_engine_option, engine_from_settings
from sleeve.core.errors import NothingYetError
from sleeve.core.settings import load_settings

EXAMPLES = """\
  sleeve attributes                          # every extractor, every cover lacking values
  sleeve attributes --only style             # photo / illustration / typography (Lite0)
  sleeve attributes --only colour,structure  # the cheap ones only (a few ms per cover)
  sleeve attributes --only faces             # MTCNN if facenet-pytorch is installed, else Haar
  sleeve attributes --only faces-haar --workers 1
  sleeve attributes --list                   # every field: definition and range
  sleeve attributes --json                   # the run's counts for scripts
  SLEEVE_RAY_ADDRESS=ray://head:10001 sleeve attributes --engine ray

Values are cached in the catalog per (cover sha256, extractor, version): a second run computes
nothing, an interrupted one resumes. Unreadable files are skipped and counted (exit code 1).
The text share (text.share in attributes.csv) is no extractor: build-dataset derives it from
the words `sleeve text` read (the OCR cache), so covers get it once their words are read.
build-dataset computes the missing ones of every present cover (all five groups by default;
--attributes colour,texture,structure for the cheap build, off to skip)."""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "sleeve attributes",
        "Measure each cover's colour, texture, structure, faces and style once, cached in the "
        "catalog.",
        EXAMPLES,
    )
    p.add_argument(
        "--only",
        metavar="A,B",
        help="extractors: colour, texture, structure, faces (or faces-mtcnn / faces-haar), style; "
        "default: all five",
    )
    p.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per CPU core)"
    )
    add_engine_option(p)
    p.add_argument("--list", action="store_true", help="print every field's definition; no work")
    p.add_argument("--json", action="store_true", help="print the run's counts as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_command(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from sleeve.dataset.attributes.registry import EXTRACTORS, resolve

    if args.list:
        for ex in EXTRACTORS.values():
            print(f"{ex.name} (version {ex.version})")
            print_table([(f.name, f"{f.definition}; range {f.range}") for f in ex.fields])
        from sleeve.dataset.attributes import text_share

        print("text (from the OCR cache at build-dataset: `sleeve text` first)")
        print_table([(f.name, f"{f.definition}; range {f.range}") for f in text_share.FIELDS])
        return EXIT_OK
    extractors = resolve(args.only)
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.models import CoverImage
    from sleeve.dataset.attributes.compute import ensure_attributes

    settings = load_settings()
    # local keeps ensure_attributes' own pool (spawned workers for the torch extractors)
    engine = None if args.engine == "local" else engine_from_settings(settings, args.engine)
    catalog = open_catalog(settings.catalog_url)
    with catalog.session() as session:
        images = session.execute(select(CoverImage.sha256, CoverImage.path)).all()
    if not images:
        raise NothingYetError("the catalog has no covers yet: run `collect` first")
    started = time.monotonic()
    _, report = ensure_attributes(
        catalog,
        Path(settings.data_dir),
        [(sha, path) for sha, path in images],
        extractors,
        workers=args.workers,
        progress=not args.no_progress,
        engine=engine,
    )
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps({**report.as_dict(), "covers": len(images), "seconds": seconds}))
    else:
        print(f"{len(images)} covers in {seconds:.1f} s: {report.summary()}")
        for example in report.skipped_examples:
            print(f"  skipped e.g. {example}")
    return EXIT_FAILED if report.skipped else EXIT_OK
