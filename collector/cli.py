"""`collect`: harvest covers + genre tags into the catalog, or import a class-per-folder dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from sleeve.collector.collect import SOURCES, check_data_dir, collect, preflight, resume_plan
from sleeve.collector.runs import HarvestSummary, resume_note
from sleeve.core.catalog.db import open_catalog
from sleeve.core.cliutil import (
    EXIT_FAILED,
    EXIT_OK,
    parser,
    print_table,
    printable,
    run_command,
    setup_logging,
)
from sleeve.core.errors import UsageError
from sleeve.core.settings import Settings, load_settings
from sleeve.core.taxonomy import Taxonomy

EXAMPLES = """\
  collect --genre rap --limit 500
      500 NEW distinct rap covers from MusicBrainz + Cover Art Archive. Interrupted
      (Ctrl-C, kill)? Run the same command again: it resumes and stops at 500 in total.
  collect --genre disco --limit 200 --source all
      spread over MusicBrainz and Spotify (needs SPOTIPY_CLIENT_ID/SECRET)
  collect --from-folder ../shared/data/covers-5genre/Album_Covers \\
          --map Electronic=electronic,Rock=rock
      import a class-per-folder dataset (folder names map through the taxonomy's aliases)
  collect --from-dump release.tar.xz --genre jazz --limit 5000
      metadata from a MusicBrainz JSON dump (no MusicBrainz requests, no 1 request/s), read as
      a stream and resumable; covers from the Cover Art Archive as usual
  MUSICBRAINZ_URL=http://127.0.0.1:8080/ws/2 COVERART_URL=http://127.0.0.1:8081 collect ...
      run against other endpoints (mirrors, the loopback fakes); a self-hosted mirror with its
      own limit: SLEEVE_MB_RATE=20 (see docs/storage.md)"""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "collect",
        "Harvest album covers and their genre tags into the sleeve catalog (SQLite by default).",
        EXAMPLES,
    )
    p.add_argument("--genre", help="target genre from the taxonomy (e.g. rap, jazz, disco)")
    p.add_argument(
        "--limit",
        type=int,
        default=100,
        help="number of NEW distinct covers to add for the genre; byte-identical covers already "
        "stored do not count (default: 100). If the source runs dry, the count reached is "
        "reported and the exit code is 0",
    )
    p.add_argument("--source", choices=SOURCES, default="musicbrainz", help="default: musicbrainz")
    p.add_argument(
        "--cover-size",
        type=int,
        choices=(250, 500, 1200, 0),
        help="Cover Art Archive thumbnail size in px, 0 = original (default: SLEEVE_COVER_SIZE "
        "or 500)",
    )
    p.add_argument("--from-folder", type=Path, metavar="DIR", help="import DIR/<Genre>/*.jpg")
    p.add_argument(
        "--from-dump",
        type=Path,
        metavar="PATH",
        help="with --genre: read release groups from a MusicBrainz JSON dump (release.tar.xz or "
        "release-group.tar.xz) instead of searching MusicBrainz; covers still come from the "
        "Cover Art Archive",
    )
    p.add_argument(
        "--map",
        default="",
        metavar="FOLDER=genre,...",
        help="with --from-folder: map folder names to genres "
        "(a genre outside the taxonomy is added)",
    )
    return p


def parse_mapping(text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        folder, sep, genre = part.partition("=")
        if not sep or not folder.strip() or not genre.strip():
            raise UsageError(f"--map entry {part!r} is not FOLDER=genre")
        mapping[folder.strip()] = genre.strip()
    return mapping


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        settings = load_settings()
        if args.cover_size is not None:
            from dataclasses import replace

            settings = replace(settings, cover_size=args.cover_size)
        taxonomy = Taxonomy.load(settings.taxonomy_path)
        if args.from_folder is not None:
            return _import_folder(args, settings, taxonomy)
        if not args.genre:
            raise UsageError("--genre is required (or --from-folder DIR); see collect --help")
        taxonomy.get(args.genre)  # unknown genre: fails here with the valid list, before any I/O
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        if args.from_dump is not None:
            return _harvest_dump(args, settings, taxonomy)
        preflight(settings, args.source)  # credentials, data dir: before anything is written
        catalog = open_catalog(settings.catalog_url)
        for run, target in resume_plan(catalog, args.genre, args.limit, args.source):
            print(resume_note(run, args.limit, target), flush=True)
        summaries = collect(
            catalog,
            settings,
            taxonomy,
            args.genre,
            args.limit,
            source=args.source,
            progress=not args.no_progress,
        )
        return _report(summaries)

    return run_command(body)


def _report(summaries: list[HarvestSummary]) -> int:
    code = EXIT_OK
    for summary in summaries:
        verb = "resumed" if summary.resumed else "run"
        print()  # a blank line: print_table escapes control characters in its title
        print_table(
            summary.rows(),
            f"{summary.source} {verb} #{summary.run_id}, genre {summary.genre}: "
            f"{summary.new}/{summary.target} new covers ({summary.state})",
        )
        if summary.message:
            print(f"  note: {printable(summary.message)}")
        if summary.state in ("paused", "failed"):
            code = EXIT_FAILED
    return code


def _harvest_dump(args: argparse.Namespace, settings: Settings, taxonomy: Taxonomy) -> int:
    from sleeve.collector.dump import dump_entity
    from sleeve.collector.harvest_dump import harvest_dump

    if not args.from_dump.is_file():
        raise UsageError(f"--from-dump {args.from_dump}: no such file")
    dump_entity(args.from_dump)  # a wrong file name fails here, before anything is written
    check_data_dir(settings)
    catalog = open_catalog(settings.catalog_url)
    summary = harvest_dump(
        catalog,
        settings,
        taxonomy,
        args.genre,
        args.limit,
        args.from_dump,
        progress=not args.no_progress,
    )
    return _report([summary])


def _import_folder(args: argparse.Namespace, settings: Settings, taxonomy: Taxonomy) -> int:
    from sleeve.collector.folder_import import import_folder

    if not args.from_folder.is_dir():
        raise UsageError(f"--from-folder {args.from_folder}: no such directory")
    check_data_dir(settings)
    catalog = open_catalog(settings.catalog_url)
    summary = import_folder(
        catalog,
        settings,
        taxonomy,
        args.from_folder,
        parse_mapping(args.map),
        progress=not args.no_progress,
    )
    print(summary.report())
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
