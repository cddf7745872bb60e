"""Every CSV sleeve writes or reads back: one writer that keeps cells inert, one reader.

Cells carry text that came from outside (artist names and words read on covers, catalogue
genres and sources, file names). A spreadsheet runs a cell that begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return as a formula (OWASP "CSV injection": ``=HYPERLINK(...)``
leaks data, DDE runs commands). Such a cell is written behind a single quote, which
spreadsheets show as text and hide; a number (``-0.5``, ``+3``) is no formula and stays as it
is, so numeric columns and the manifest of ordinary data (its bytes are the dataset id) are
written exactly as the stdlib writer would. The reader takes the quote off again: a value
that itself begins with quotes before such a character gets one more quote when written, so
every value round-trips.

No other module imports :mod:`csv` (a test holds the product to it).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Sequence
from typing import IO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _starts_formula(text: str) -> bool:
    return text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text)


def inert(cell: object) -> object:
    """``cell`` as a spreadsheet will show and never run; anything not a string is unchanged."""
    if isinstance(cell, str) and _starts_formula(cell.lstrip("'")):
        return "'" + cell
    return cell


def original(cell: str) -> str:
    """What :func:`inert` was given, from what it wrote."""
    if cell.startswith("'") and _starts_formula(cell.lstrip("'")):
        return cell[1:]
    return cell


def write(handle: IO[str], header: Sequence[str], rows: Iterable[Iterable[object]]) -> None:
    """``header`` then ``rows`` to an open text file (opened with ``newline=""``), '\\n' ends."""
    writer = csv.writer(handle, lineterminator="\n")
    # with '\n' line ends the stdlib leaves a carriage return unquoted, which no reader
    # parses: a row holding one is written fully quoted (every other row byte for byte as before)
    quoted = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in itertools.chain([header], rows):
        cells = [inert(c) for c in row]
        has_cr = any(isinstance(c, str) and "\r" in c for c in cells)
        (quoted if has_cr else writer).writerow(cells)


def render(header: Sequence[str], rows: Iterable[Iterable[object]]) -> str:
    """The CSV text of ``header`` then ``rows``."""
    buf = io.StringIO(newline="")
    write(buf, header, rows)
    return buf.getvalue()


def read_rows(source: str | IO[str]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of CSV text or an open file, every cell as it was before writing;
    ([], []) for an empty table. Raises ``csv.Error`` (a ValueError) on malformed input."""
    lines = io.StringIO(source, newline="") if isinstance(source, str) else source
    table = [[original(c) for c in row] for row in csv.reader(lines)]
    return (table[0], table[1:]) if table else ([], [])


def read_dicts(source: str | IO[str]) -> list[dict[str, str]]:
    """The rows of CSV text or an open file as dicts keyed by the header, as written; blank
    lines are skipped and short rows padded with "" (as ``csv.DictReader`` does, but "")."""
    return as_dicts(*read_rows(source))


def as_dicts(header: list[str], rows: list[list[str]]) -> list[dict[str, str]]:
    """``rows`` as dicts keyed by ``header`` (see :func:`read_dicts`)."""
    padded = (row + [""] * (len(header) - len(row)) for row in rows if row)
    return [dict(zip(header, row, strict=False)) for row in padded]


Error = csv.Error  # what a malformed table raises, for readers that turn it into one line
