"""Run the fake MusicBrainz + Cover Art Archive until Ctrl-C.

    python -m sleeve.fakes --genres rap,jazz --per-genre 50 --seed 0

prints ``export MUSICBRAINZ_URL=...`` / ``export COVERART_URL=...`` lines to paste into the
shell that runs ``collect``. ``serve_forever`` is the same thing for the offline demo.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices

DEFAULT_GENRES = "anime,black_metal,classical,country,disco,edm,jazz,pop,rap,reggae"


def serve_forever(
    genres: list[str] | dict[str, int],
    per_genre: int = 60,
    seed: int = 0,
    *,
    out: TextIO | None = None,
    ready: Callable[[FakeServices], None] | None = None,
    stop: threading.Event | None = None,
    bad_art_rate: float = 0.0,
    catalogue: FakeCatalogue | None = None,
    dump_dir: Path | None = None,
    **options: Any,
) -> int:
    """Generate a catalogue (or serve ``catalogue``), start the fakes, print the export lines,
    block until Ctrl-C (or until ``stop`` is set). ``ready(fx)`` is called once they listen."""
    out = out or sys.stdout
    cat = catalogue or FakeCatalogue.generate(
        genres, per_genre=per_genre, seed=seed, bad_art_rate=bad_art_rate
    )
    stop = stop or threading.Event()
    with FakeServices(cat, **options) as fx:
        for key, value in fx.env().items():
            print(f"export {key}={value}", file=out)
        print(
            f"# {len(cat.release_groups)} release groups, {len(cat.releases)} releases; "
            "Ctrl-C to stop",
            file=out,
            flush=True,
        )
        if dump_dir is not None:  # the same catalogue as MusicBrainz JSON dumps (--from-dump)
            from sleeve.fakes.mbdump import write_dump

            paths = [write_dump(cat, dump_dir, entity) for entity in ("release", "release-group")]
            print(f"# dumps: {' '.join(str(p) for p in paths)}", file=out, flush=True)
        if ready is not None:
            ready(fx)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sleeve.fakes",
        description="Serve a generated catalogue as fake MusicBrainz / Cover Art Archive.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  python -m sleeve.fakes --genres rap,jazz --per-genre 50\n"
        '  eval "$(python -m sleeve.fakes | head -2)"  # in another shell\n'
        "  python -m sleeve.fakes --from-folder covers/ --map Electronic=electronic\n"
        "  python -m sleeve.fakes --write-dump /tmp/mbdump  # then collect --from-dump "
        "/tmp/mbdump/release.tar.xz --genre rap",
    )
    p.add_argument("--genres", default=DEFAULT_GENRES, help="comma-separated genre names")
    p.add_argument("--per-genre", type=int, default=60, help="release groups per genre")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mb-latency", type=float, default=0.0, help="seconds per MB response")
    p.add_argument("--cover-latency", type=float, default=0.0, help="seconds per image")
    p.add_argument("--enforce-rate", type=float, default=None, help="MB requests/s per client")
    p.add_argument("--bad-art-rate", type=float, default=0.0, help="share of broken covers")
    p.add_argument(
        "--from-folder",
        type=Path,
        metavar="DIR",
        help="serve the real covers under DIR/<Genre>/ (one release per file, tagged with its "
        "genre; the original image is the file) instead of a generated catalogue",
    )
    p.add_argument(
        "--map",
        default="",
        metavar="FOLDER=genre,...",
        help="with --from-folder: genres for folders the taxonomy's aliases do not name",
    )
    p.add_argument(
        "--write-dump",
        type=Path,
        metavar="DIR",
        help="also write the catalogue as MusicBrainz JSON dumps (DIR/release.tar.xz, "
        "DIR/release-group.tar.xz) for collect --from-dump",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    genres = [g.strip() for g in args.genres.split(",") if g.strip()]
    catalogue = None
    if args.from_folder is not None:
        from sleeve.collector.cli import parse_mapping
        from sleeve.core.cliutil import run_command
        from sleeve.core.settings import load_settings
        from sleeve.core.taxonomy import Taxonomy
        from sleeve.fakes.folder_catalogue import catalogue_from_folder

        def load() -> int:
            nonlocal catalogue
            taxonomy = Taxonomy.load(load_settings().taxonomy_path)  # SLEEVE_TAXONOMY too
            mapping = parse_mapping(args.map)
            catalogue = catalogue_from_folder(
                args.from_folder, mapping, args.seed, taxonomy=taxonomy
            )
            return 0

        code = run_command(load)  # a bad folder or --map: one line, the CLI's exit code
        if code:
            return code
    return serve_forever(
        genres,
        args.per_genre,
        args.seed,
        mb_latency=args.mb_latency,
        cover_latency=args.cover_latency,
        enforce_rate=args.enforce_rate,
        bad_art_rate=args.bad_art_rate,
        catalogue=catalogue,
        dump_dir=args.write_dump,
    )


if __name__ == "__main__":
    sys.exit(main())
