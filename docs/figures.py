"""Fill the measured figures in the docs from benchmarks/results/*.json, or check they match.

A figure in a Markdown page is written as an inline marker around its value::

    sleeve reads <!-- fig text.json summary.fused.mean .3f -->0.503<!-- /fig --> ...

``text.json`` is a file in benchmarks/results/, ``summary.fused.mean`` a dotted path into it
(list items by index: ``seeds.0.val_covers``; a key holding a space, a dot or ``<>`` is
percent-encoded: ``visual.methods.phash%20%3C%3D%2010.precision``), and the optional last word
a format spec for Python's ``format`` (``.3f``, ``.1%``, ``,d``). Rendered Markdown hides the
comments, so a reader sees the value. Nobody types a figure by hand: a benchmark rewrites its
JSON, this script rewrites the pages, and CI runs ``python docs/figures.py --check`` so a page
that disagrees with its JSON fails the build.

    python docs/figures.py           # rewrite README.md and docs/*.md in place
    python docs/figures.py --check   # exit 1 and list every figure that differs or is missing
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(
    r"<!-- fig (?P<file>[\w.-]+\.json) (?P<path>[^\s>]+)(?: (?P<spec>[^\s>]+))? -->"
    r"(?P<value>.*?)<!-- /fig -->"
)


class FigureError(Exception):
    """A marker names a file or a path that the results do not have."""


@cache
def _results(name: str) -> Any:
    path = RESULTS / name
    if not path.is_file():
        raise FigureError(f"{name}: no such file in benchmarks/results")
    return json.loads(path.read_text())


def lookup(name: str, dotted: str) -> Any:
    value = _results(name)
    for part in map(unquote, dotted.split(".")):
        if isinstance(value, list) and part.lstrip("-").isdigit():
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise FigureError(f"{name}: no {dotted!r} (stopped at {part!r})")
    return value


def render(name: str, dotted: str, spec: str | None) -> str:
    value = lookup(name, dotted)
    return format(value, spec) if spec else str(value)


def fill(text: str) -> tuple[str, list[str], list[str]]:
    """The text with every figure rendered; a line per figure that changed, and per broken one."""
    changed: list[str] = []
    broken: list[str] = []

    def one(m: re.Match[str]) -> str:
        try:
            value = render(m["file"], m["path"], m["spec"])
        except FigureError as exc:
            broken.append(str(exc))
            return m[0]
        if value != m["value"]:
            changed.append(f"{m['file']} {m['path']}: page has {m['value']!r}, results {value!r}")
        spec = f" {m['spec']}" if m["spec"] else ""
        return f"<!-- fig {m['file']} {m['path']}{spec} -->{value}<!-- /fig -->"

    return MARKER.sub(one, text), changed, broken


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a diff")
    args = parser.parse_args(argv)
    failed = False
    for page in pages():
        text = page.read_text()
        new, changed, broken = fill(text)
        for line in changed + broken:
            print(f"{page.relative_to(ROOT)}: {line}")
        failed = failed or bool(broken) or (args.check and bool(changed))
        if not args.check and new != text:
            page.write_text(new)
    if failed and args.check:
        print("figures differ from benchmarks/results: run `python docs/figures.py`")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
