"""What every command shares: settings loading, logging, and turning errors into one line."""

from __future__ import annotations

import argparse
import logging
import sys
import unicodedata
from collections.abc import Callable, Sequence

from sleeve.core.errors import (
    DISK_FULL,
    NothingYetError,
    SleeveError,
    StorageError,
    UsageError,
    disk_full_message,
)

# Every command's exit codes (README, "Exit codes"):
EXIT_OK = 0  # done (a harvest whose source ran dry is done too)
EXIT_FAILED = 1  # not finished: paused (re-run to resume), some inputs failed, or unusable data
EXIT_USAGE = 2  # usage or configuration error; nothing was done
EXIT_NOTHING_YET = 3  # nothing to work on yet: the message names the command to run first
EXIT_STORAGE = 4  # disk full, damaged catalog, unreadable model file: the message names it
EXIT_INTERRUPTED = 130  # Ctrl-C


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
    """Run a command body; a SleeveError or a full disk becomes one ``error: ...`` line on stderr
    and the exit code for its kind, never a traceback."""
    try:
        return body()
    except KeyboardInterrupt:
        print("\ninterrupted: re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        return _fail(disk_full_message(exc, _data_dir()), EXIT_STORAGE)
    except SleeveError as exc:
        return _fail(str(exc), exit_code(exc))


def exit_code(exc: SleeveError) -> int:
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, NothingYetError):
        return EXIT_NOTHING_YET
    if isinstance(exc, StorageError):
        return EXIT_STORAGE
    return EXIT_FAILED


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and other control characters cannot forge output."""
    return printable(text.strip())


def _fail(message: str, code: int) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return code


def _data_dir() -> str:
    """Where a write without a file name was going: the data directory, if settings load."""
    try:
        from sleeve.core.settings import load_settings

        return str(load_settings().data_dir)
    except SleeveError:
        return "the data directory"


def print_table(rows: Sequence[tuple[str, object]], title: str = "") -> None:
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
