"""`sleeve demo`: the whole pipeline offline, on a generated catalogue served from loopback.

It starts the MusicBrainz / Cover Art Archive fakes over a synthetic catalogue (covers drawn
procedurally so that genres differ visibly), then runs the real code paths one after another:
collect each genre -> build-dataset --balance -> train-and-evaluate. Everything is written
under ``<SLEEVE_DATA_DIR>/demo`` so a real catalog is never touched. The numbers it reports
describe synthetic covers, not music, and it says so.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from sleeve.core.catalog.db import open_catalog
from sleeve.core.cliutil import parser, print_table, run_command, setup_logging
from sleeve.core.errors import UsageError
from sleeve.core.settings import Settings, load_settings
from sleeve.core.taxonomy import Taxonomy

MARKER = "SLEEVE_DEMO"
BANNER = "SYNTHETIC DATA: generated covers from loopback fakes, not real music"

EXAMPLES = """\
  sleeve demo                      all 10 study genres, 40 covers each, a few minutes on a CPU
  sleeve demo --genres rap,jazz,disco --per-genre 30 --methods knn,logreg
  SLEEVE_DATA_DIR=/tmp/sleeve sleeve demo"""


def build_parser() -> argparse.ArgumentParser:
    p = parser("sleeve demo", __doc__.split("\n\n")[0], EXAMPLES)
    p.add_argument("--genres", default="", help="comma list (default: the taxonomy's genres)")
    p.add_argument("--per-genre", type=int, default=40, help="covers to collect per genre")
    p.add_argument(
        "--methods",
        default="knn,logreg,svc,rf,finetune",
        help="train-and-evaluate methods (default: knn,logreg,svc,rf,finetune)",
    )
    p.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default: 2)")
    p.add_argument("--seed", type=int, default=0)
    return p


def prepare_dir(root: Path) -> Path:
    """A fresh demo directory; only a directory this demo created is ever emptied."""
    demo = root / "demo"
    if demo.exists():
        if not (demo / MARKER).is_file():
            raise UsageError(f"{demo} exists and was not made by sleeve demo; move it away")
        shutil.rmtree(demo)
    demo.mkdir(parents=True)
    (demo / MARKER).write_text(BANNER + "\n")
    return demo


def run_demo(
    settings: Settings,
    *,
    genres: list[str] | None = None,
    per_genre: int = 40,
    methods: tuple[str, ...] = ("knn", "logreg", "svc", "rf", "finetune"),
    epochs: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    from sleeve.collector.harvest_mb import harvest_musicbrainz
    from sleeve.dataset.build import build_dataset
    from sleeve.fakes.catalogue import FakeCatalogue
    from sleeve.fakes.server import FakeServices
    from sleeve.training.evaluation.selection import chosen_by
    from sleeve.training.run import TrainConfig, train_and_evaluate

    taxonomy = Taxonomy.load(settings.taxonomy_path)
    genres = genres or taxonomy.genres
    for genre in genres:
        taxonomy.get(genre)
    demo_dir = prepare_dir(settings.data_dir)
    print(f"== {BANNER}\n== working in {demo_dir}", flush=True)
    # Enough release groups that the bad art and the duplicates the fakes plant still leave
    # per_genre good covers in each genre.
    catalogue = FakeCatalogue.generate(
        {g: int(per_genre * 1.5) + 10 for g in genres}, seed=seed, bad_art_rate=0.05
    )
    with FakeServices(catalogue) as fx:
        local = replace(
            settings,
            data_dir=demo_dir,
            database_url="",
            musicbrainz_url=fx.musicbrainz_url,
            coverart_url=fx.coverart_url,
        )
        catalog = open_catalog(local.catalog_url)
        print(f"\n== 1/3 collect: {len(genres)} genres x {per_genre} covers from {fx!r}")
        rows = []
        for genre in genres:
            s = harvest_musicbrainz(catalog, local, taxonomy, genre, per_genre, progress=progress)
            skipped = sum(s.skipped.values()) + sum(s.failed.values())
            rows.append((genre, f"{s.new} new, {s.had} already had, {skipped} skipped/failed"))
        print_table(rows)
    print("\n== 2/3 build-dataset --balance", flush=True)
    built = build_dataset(
        catalog, local, taxonomy, genres=genres, balance=True, seed=seed, progress=progress
    )
    assert built.export_dir is not None  # None only for a dry run
    export_dir = Path(built.export_dir)
    print(f"  dataset {export_dir.name} at {export_dir}")
    print("\n== 3/3 train-and-evaluate", flush=True)
    config = TrainConfig(methods=methods, epochs=epochs, seed=seed, progress=progress)
    result = train_and_evaluate(export_dir, config=config, data_dir=demo_dir)
    best = result.metrics.best
    print(
        f"\n== best method (chosen {chosen_by(result.metrics)}): {best.method} "
        f"(test weighted F1 {best.test_weighted_f1:.3f}) [{BANNER}]"
    )
    report = result.run_dir / "report.html"
    print(f"report: {report}")
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        settings = load_settings()
        genres = [g.strip() for g in args.genres.split(",") if g.strip()] or None
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        report = run_demo(
            settings,
            genres=genres,
            per_genre=args.per_genre,
            methods=methods,
            epochs=args.epochs,
            seed=args.seed,
            progress=not args.no_progress,
        )
        print(report)  # the last line: where to look
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main())
