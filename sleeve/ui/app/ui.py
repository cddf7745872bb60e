"""Small Streamlit helpers shared by the pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from sleeve.core.errors import SleeveError
from sleeve.core.settings import Settings
from sleeve.ui.app.data import NotReady

T = TypeVar("T")


def load_or_explain(load: Callable[[], T], where: Any = st) -> T | None:
    """``load()``, or None after telling the user why not: "not there yet" (the message names
    the command to run) as a note, anything else the project raises as an error."""
    try:
        return load()
    except NotReady as exc:
        where.info(str(exc))
    except SleeveError as exc:
        where.error(str(exc))
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
