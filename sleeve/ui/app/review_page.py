"""Review page: a run's label-issue suspects with keep / relabel / exclude buttons.

The buttons write the same catalog decisions as `sleeve review decide` (source "review", who,
when); the next `build-dataset` applies them. A decided cover leaves the queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from sleeve.core.catalog.decisions import (
    Decision,
    default_who,
    latest_decisions,
    record_decision,
)
from sleeve.core.errors import SleeveError
from sleeve.core.settings import Settings
from sleeve.ui.app.data import app_catalog
from sleeve.ui.app.data_page import thumbnail
from sleeve.ui.app.runs import page, pages
from sleeve.ui.app.ui import code, load_or_explain, pick_run, plain
from sleeve.ui.review.queue import Suspect, read_suspects, review_queue

if TYPE_CHECKING:  # imported where used: the page opens quickly
    from sleeve.core.taxonomy import Taxonomy

PAGE_SIZE = 10


def _decide(settings: Settings, sha256: str, decision: str) -> None:
    key = sha256[:16]
    genre = st.session_state.get(f"genre_{key}") if decision == "relabel" else None
    who = (st.session_state.get("review_who") or "").strip() or None
    try:
        with app_catalog(settings, migrate=True) as catalog:  # decisions are stored there
            done = record_decision(
                catalog, _taxonomy(settings), sha256, decision, genre, who=who, note="app"
            )
    except SleeveError as exc:
        st.session_state["review_msg"] = ("error", str(exc))
        return
    what = f"relabel {done.genre}" if done.genre else done.decision
    st.session_state["review_msg"] = (
        "success",
        f"Recorded {what} for {done.sha256[:12]} by {done.who}; the next `build-dataset` "
        "applies it.",
    )


def _taxonomy(settings: Settings) -> Taxonomy:
    from sleeve.core.taxonomy import Taxonomy

    return Taxonomy.load(settings.taxonomy_path)


def _decisions(settings: Settings) -> dict[int, Decision]:
    with app_catalog(settings, migrate=True) as catalog:
        return latest_decisions(catalog)


def render(settings: Settings) -> None:
    st.header("Review label issues")
    run = pick_run(settings, "review_run")
    if run is None:
        return
    suspects = load_or_explain(lambda: read_suspects(run))
    if suspects is None:
        return
    decided = load_or_explain(lambda: _decisions(settings))
    if decided is None:
        return
    message = st.session_state.pop("review_msg", None)
    if message:
        show = st.success if message[0] == "success" else st.error
        show(plain(message[1]))
    st.caption(
        "Suspects: train/val covers whose given genre the shipped model, refitted without them, "
        "finds improbable while it confidently suggests another (label_issues.csv; thresholds "
        "measured on the run's covers). Keep: the label is right. "
        "Relabel: it belongs to another genre. Exclude: not a usable cover."
    )
    c1, c2 = st.columns(2)
    c1.text_input("Your name (recorded with each decision)", value=default_who(), key="review_who")
    show_all = c2.toggle("Every train/val cover by rank, not only flagged ones", key="review_all")
    queue = review_queue(suspects, {d.sha256 for d in decided.values()}, include_unflagged=show_all)
    flagged = sum(s.flagged for s in suspects)
    st.markdown(
        f"**{len(queue)} covers to review** · {flagged:d} flagged of {len(suspects)} train/val "
        f"covers · {len(decided)} decided in the catalog"
    )
    if not queue:
        st.info("Nothing left to review in this run.")
        return
    total = pages(len(queue), PAGE_SIZE)
    number = int(st.number_input("Page", 1, total, key="review_page")) if total > 1 else 1
    genres = sorted({g for s in suspects for g in s.probabilities})
    for suspect in page(queue, number, PAGE_SIZE):
        render_suspect(settings, suspect, genres)


def render_suspect(settings: Settings, s: Suspect, genres: list[str]) -> None:
    key = s.sha256[:16]
    with st.container(border=True, key=f"suspect_{key}"):
        img, text, actions = st.columns([1, 2, 2])
        thumb = thumbnail(Path(s.path))
        if thumb is None:
            img.warning(f"missing {code(s.sha256[:10])}")
        else:
            img.image(thumb, width="stretch")
        text.markdown(
            f"**#{s.rank:d}** {code(s.sha256[:12])} · {plain(s.split)}\n\n"
            f"filed as **{plain(s.given_genre)}** ({s.probabilities.get(s.given_genre, 0):.0%}), "
            f"looks like **{plain(s.suggested_genre)}** "
            f"({s.probabilities.get(s.suggested_genre, 0):.0%})"
            + (f"\n\nartist: **{plain(s.artist)}**" if s.artist else "")
            + (f"\n\nwords: _{plain(s.words[:200])}_" if s.words else "\n\nwords: none read")
        )
        b1, b2 = actions.columns(2)
        b1.button("Keep", key=f"keep_{key}", on_click=_decide, args=(settings, s.sha256, "keep"))
        b2.button(
            "Exclude", key=f"exclude_{key}", on_click=_decide, args=(settings, s.sha256, "exclude")
        )
        others = [g for g in genres if g != s.given_genre] or genres
        default = others.index(s.suggested_genre) if s.suggested_genre in others else 0
        actions.selectbox("Genre", others, index=default, key=f"genre_{key}")
        actions.button(
            "Relabel", key=f"relabel_{key}", on_click=_decide, args=(settings, s.sha256, "relabel")
        )
