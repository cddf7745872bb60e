"""Small Streamlit helpers shared by the pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from sleeve.core.errors import SleeveError
from sleeve.core.settings import Settings
from sleeve.ui.app.data import NotReady

T = TypeVar("T")

# Every ASCII punctuation character: CommonMark lets a backslash escape each of them, and
# Streamlit's extensions (links, images, :colour[...] directives, $maths$, tables) start with one.
_MARKUP = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: object) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it as the very same characters.

    Captions, labels, notes and ``st.markdown`` render Markdown: words read on a cover, a
    catalogue's genre or source, a file name or a folder pass through here first, so that
    ``![x](http://host/pixel.png)`` printed on a cover is shown, not fetched. Line breaks
    become spaces (one caption is one line). A test holds every page call to literals, numbers
    and this.
    """
    return _MARKUP.sub(r"\\\1", " ".join(str(text).splitlines()))


def code(text: object) -> str:
    """``text`` as an inline code span: shown verbatim, since nothing inside a span is Markdown.
    The fence is one backtick longer than any run of backticks in ``text``, so it cannot be
    closed early; text that starts or ends with a backtick or a space is padded with the one
    space each side that CommonMark strips."""
    line = " ".join(str(text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", line)), default=0) + 1)
    pad = " " if line[:1] in ("`", " ") or line[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{line}{pad}{fence}" if line else ""


def load_or_explain(load: Callable[[], T], where: Any = st) -> T | None:
    """``load()``, or None after telling the user why not: "not there yet" (the message names
    the command to run) as a note, anything else the project raises as an error."""
    try:
        return load()
    except NotReady as exc:
        where.info(plain(exc))
    except SleeveError as exc:
        where.error(plain(exc))
    return None


def pick_run(settings: Settings, key: str) -> Path | None:
    """A selectbox over every run under runs/ (newest, LATEST, first); None when there is none
    yet (the page then shows what to run)."""
    from sleeve.ui.app.runs import list_runs

    runs = load_or_explain(lambda: list_runs(settings))
    if runs is None:
        return None
    names = [str(p) for p in runs]
    chosen = st.selectbox(
        "Run",
        names,
        format_func=lambda p: run_label(p, names),
        key=key,
    )
    return Path(chosen)


def run_label(path: str, names: list[str]) -> str:
    """A run's folder name, marked when it is the newest (``names`` as list_runs orders them)."""
    return Path(path).name + (" (LATEST)" if path == names[0] else "")
