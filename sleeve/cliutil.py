"""What every command shares: settings loading, logging, and turning errors into one line."""

from __future__ import annotations

import argparse
import logging
import sys
import unicodedata
from collections.abc import Callable

from sleeve.errors import SleeveError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def parser(prog: str, description: str, examples: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Examples:\n" + examples.rstrip() + "\n\nSettings come from the environment or "
        "./.env (see .env.example).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log requests and retries")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_command(body: Callable[[], int]) -> int:
    """Run a command body; SleeveError becomes ``error: ...`` on stderr, never a traceback."""
    try:
        return body()
    except UsageError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except SleeveError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted: re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def print_table(rows: list[tuple[str, object]], title: str = "") -> None:
    if title:
        print(printable(title))
    shown = [(printable(k), printable(v)) for k, v in rows]
    width = max((len(k) for k, _ in shown), default=0)
    for key, value in shown:
        print(f"  {key:<{width}}  {value}")


def printable(value: object) -> str:
    """``str(value)`` with control characters escaped (``\\n``, ``\\x1b``, ``\\u202e``...).

    A file name or remote text may hold a newline, a terminal escape or a bidi override: printed
    raw it forges a row in a table or rewrites the screen. Every human-readable output that
    shows a name, a path or an error goes through here. Spaces of any script are kept.
    """
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if not ch.isprintable() and unicodedata.category(ch) != "Zs"
        else ch
        for ch in text
    )
