"""Small Streamlit helpers shared by the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from sleeve.app.data import NotReady
from sleeve.errors import SleeveError

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
