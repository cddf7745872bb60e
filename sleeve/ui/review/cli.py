"""`sleeve review`: the label-issue queue of a run, and decisions on it.

sleeve review [--run DIR] [--json] [--all] [--limit N]     list suspects not yet decided
sleeve review decide SHA256 keep|exclude|relabel [GENRE] [--who NAME] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sleeve.core.catalog.decisions import DECISIONS, default_who, latest_decisions, record_decision
from sleeve.core.cliutil import EXIT_OK, parser, run_command, setup_logging
from sleeve.core.errors import DataError
from sleeve.core.settings import load_settings
from sleeve.inference.rundir import latest_run
from sleeve.ui.review.queue import read_suspects, review_queue

LIST_EXAMPLES = """\
  sleeve review                      # the newest run's suspects nobody has decided on yet
  sleeve review --json --limit 20    # for scripts: rank, sha256, path, given/suggested genre
  sleeve review --all --run runs/20261201-101500-ab12cd34ef56ab12
  sleeve review decide 3f5a9c0e keep
  sleeve review decide 3f5a9c0e relabel jazz --who ann
"""
DECIDE_EXAMPLES = """\
  sleeve review decide 3f5a9c0e1b2d keep            # the label is right: leave the queue
  sleeve review decide 3f5a9c0e1b2d exclude         # not a usable cover: drop it
  sleeve review decide 3f5a9c0e1b2d relabel jazz    # it is jazz
"""


def list_parser() -> argparse.ArgumentParser:
    p = parser(
        "sleeve review",
        "List the covers whose label the run's shipped model, refitted out of fold, finds "
        "improbable (label_issues.csv), most suspect first, without those already decided. "
        "Decide with `sleeve review decide`; the next build-dataset applies the decisions.",
        LIST_EXAMPLES,
    )
    p.add_argument("--run", type=Path, help="run directory (default: runs/LATEST)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--all", action="store_true", help="every train/val cover by rank, not only flagged ones"
    )
    p.add_argument(
        "--limit",
        type=int,
        help="show at most N suspects (default: 50, or all with --json; 0: all)",
    )
    return p


def decide_parser() -> argparse.ArgumentParser:
    p = parser(
        "sleeve review decide",
        "Record a decision about a cover's label in the catalog (source 'review', with who "
        "and when). Nothing is deleted; the newest decision on a cover wins.",
        DECIDE_EXAMPLES,
    )
    p.add_argument("sha256", help="the cover's sha256 (or a unique prefix of >= 8 characters)")
    p.add_argument("decision", choices=DECISIONS)
    p.add_argument("genre", nargs="?", help="relabel: the genre the cover belongs to")
    p.add_argument("--who", help=f"who decided (default: the login name, {default_who()!r})")
    p.add_argument("--note", default="", help="free text kept with the decision")
    p.add_argument("--json", action="store_true", help="print the stored decision as JSON")
    return p


def _run_dir(arg: Path | None, runs_dir: Path) -> Path:
    latest = latest_run(runs_dir)
    run = arg or (latest.root if latest else None)
    if run is None or not run.is_dir():
        raise DataError(
            f"no run to review (no {runs_dir / 'LATEST'}): run `train-and-evaluate` first "
            "or pass --run DIR"
        )
    return run


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "decide":
        return _decide(decide_parser().parse_args(argv[1:]))
    return _list(list_parser().parse_args(argv))


def _list(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)

    def body() -> int:
        from sleeve.core.catalog.db import open_catalog

        settings = load_settings()
        run = _run_dir(args.run, settings.runs_dir)
        decided = {d.sha256 for d in latest_decisions(open_catalog(settings.catalog_url)).values()}
        suspects = read_suspects(run)
        limit = args.limit if args.limit is not None else (None if args.json else 50)
        queue = review_queue(suspects, decided, include_unflagged=args.all, limit=limit or None)
        if args.json:
            doc = {
                "run": str(run),
                "flagged": sum(s.flagged for s in suspects),
                "decided": len(decided),
                "suspects": [s.as_dict() for s in queue],
            }
            print(json.dumps(doc, indent=2))
            return EXIT_OK
        print(
            f"run {run}: {sum(s.flagged for s in suspects)} flagged of {len(suspects)} "
            f"train/val covers; {len(decided)} covers decided so far; {len(queue)} shown"
        )
        for s in queue:
            print(
                f"  {s.rank:>5}  {s.sha256[:12]}  {s.given_genre} -> {s.suggested_genre} "
                f"(p {s.probabilities.get(s.given_genre, 0):.2f} vs "
                f"{s.probabilities.get(s.suggested_genre, 0):.2f})  {s.split}  {s.path}"
                + (f"  artist: {s.artist}" if s.artist else "")
            )
        waiting = len(review_queue(suspects, decided, include_unflagged=args.all))
        if waiting > len(queue):
            print(f"  ... {waiting - len(queue)} more (--limit 0 shows all)")
        if queue:
            print("decide: sleeve review decide SHA256 keep|exclude|relabel GENRE")
        return EXIT_OK

    return run_command(body)


def _decide(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)

    def body() -> int:
        from sleeve.core.catalog.db import open_catalog
        from sleeve.core.taxonomy import Taxonomy

        settings = load_settings()
        catalog = open_catalog(settings.catalog_url)
        decision = record_decision(
            catalog,
            Taxonomy.load(settings.taxonomy_path),
            args.sha256,
            args.decision,
            args.genre,
            who=args.who,
            note=args.note,
        )
        if args.json:
            print(json.dumps(decision.as_dict(), indent=2))
        else:
            what = f"relabel {decision.genre}" if decision.genre else decision.decision
            print(
                f"recorded: {decision.sha256[:12]} {what} by {decision.who}; "
                "the next build-dataset applies it"
            )
        return EXIT_OK

    return run_command(body)
