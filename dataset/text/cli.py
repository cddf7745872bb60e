"""`sleeve text`: read the words printed on every catalog cover that lacks them (OCR cache)."""

from __future__ import annotations

import argparse
import os

from sleeve.core.catalog.db import open_catalog
from sleeve.core.cliutil import EXIT_OK, parser, run_command, setup_logging
from sleeve.core.engine_choice import add_engine_option, engine_from_settings
from sleeve.core.errors import UsageError
from sleeve.core.settings import load_settings
from sleeve.dataset.text.cover_text import cached_shas, catalog_images, ensure_text
from sleeve.dataset.text.ocr import INSTALL_HINT, engine_available, engine_version

EXAMPLES = f"""\
  sleeve text
      read every catalog cover that has no text yet (resumable: re-run after an interrupt)
  sleeve text --workers 1 --limit 200
      one process, at most 200 covers this time
  SLEEVE_RAY_ADDRESS=ray://head:10001 sleeve text --engine ray
      read on a Ray cluster's workers (they read the covers at the same paths); this
      process alone writes the catalog

The words (strings, confidences, boxes) are cached per (cover sha256, engine, engine version);
build-dataset reads missing ones itself and exports them as text.jsonl. Needs the OCR extra:
{INSTALL_HINT} (rapidocr-onnxruntime; its models ship inside the wheel, nothing is downloaded)."""


def build_parser() -> argparse.ArgumentParser:
    p = parser("sleeve text", "Read the words on catalog covers (OCR) and cache them.", EXAMPLES)
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="local worker processes, one OCR thread each (default: CPU count)",
    )
    add_engine_option(p)
    p.add_argument(
        "--limit", type=int, metavar="N", help="read at most N uncached covers in this run"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        if args.workers < 1:
            raise UsageError("--workers must be at least 1")
        if args.limit is not None and args.limit < 1:
            raise UsageError("--limit must be at least 1")
        if not engine_available():
            raise UsageError(f"reading cover text needs the OCR engine: {INSTALL_HINT}")
        settings = load_settings()
        # local: left to ensure_text, which reads a few covers in this process
        engine = None if args.engine == "local" else engine_from_settings(settings, args.engine)
        catalog = open_catalog(settings.catalog_url)
        try:
            images = catalog_images(catalog)
            if args.limit is not None:
                done = cached_shas(catalog, engine_version() or "")
                images = [im for im in images if im[0] not in done][: args.limit]
            report = ensure_text(
                catalog,
                settings.data_dir,
                images,
                workers=args.workers,
                progress=not args.no_progress,
                engine=engine,
            )
        finally:
            catalog.dispose()
        print(report.summary())
        return EXIT_OK

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
