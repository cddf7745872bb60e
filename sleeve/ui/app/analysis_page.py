"""Analysis page: the covers' map (click a point to see its cover), the clusters with their
genre mix and thumbnails, the two genre trees and the ranked genre pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from sleeve.core.settings import Settings
from sleeve.ui.app.analysis_data import Analysis, load_analysis
from sleeve.ui.app.data import figure_png, thumbnail_jpeg
from sleeve.ui.app.ui import code, load_or_explain, plain


def render(settings: Settings) -> None:
    st.header("Confusable genres")
    analysis = load_or_explain(lambda: load_analysis(settings))
    if analysis is None:
        return
    doc = analysis.doc
    st.caption(
        f"{code(analysis.folder)} · dataset {code(doc.get('dataset_id', '?'))} · features "
        f"{code(doc.get('features', '?'))} · map {plain(str(doc['map']['method']).upper())}"
    )
    regions = doc["clusters"].get("confusable_regions", [])
    st.markdown(
        "**Confusable regions** (clusters shared by several genres): "
        + (plain("; ".join(regions)) if regions else "none")
    )
    left, right = st.columns([3, 2])
    with left:
        selected = _map(analysis)
    with right:
        _selected_cover(analysis, selected)
    _clusters(analysis)
    st.subheader("Genre similarity trees")
    trees = analysis.figure("trees")
    trees_png = figure_png(trees) if trees else None
    if trees_png:
        st.image(trees_png, caption=f"Confusion: {plain(doc['trees']['confusion']['source'])}")
    st.subheader("Genre pairs, least separated first (test covers)")
    st.dataframe(pd.DataFrame(analysis.separation_rows()), hide_index=True)


def _map(analysis: Analysis) -> int | None:
    """The scatter; returns the row of the clicked cover, if any."""
    genres = analysis.doc.get("genres", [])
    chosen = st.multiselect("Genres on the map", genres, default=genres, key="map_genres")
    frame = pd.DataFrame(analysis.points)
    frame = frame[frame["genre"].isin(chosen)]
    pick = alt.selection_point(name="cover", fields=["row"], on="click", nearest=True)
    chart = (
        alt.Chart(frame)
        .mark_circle(size=30, opacity=0.7)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            color=alt.Color("genre:N", sort=genres),
            tooltip=["genre", "split", "cluster", "row"],
        )
        .add_params(pick)
        .properties(height=520)
    )
    event = st.altair_chart(chart, on_select="rerun", key="analysis_map", use_container_width=True)
    return _row_of(event)


def _row_of(event: Any) -> int | None:
    try:
        rows = event["selection"]["cover"]
    except (KeyError, TypeError):
        return None
    if rows and isinstance(rows, list) and "row" in rows[0]:
        return int(rows[0]["row"])
    return None


def _selected_cover(analysis: Analysis, row: int | None) -> None:
    points = analysis.points
    if row is None or not 0 <= row < len(points):
        st.info("Click a point on the map to see its cover (hover shows its genre).")
        return
    p = points[row]
    thumb = thumbnail_jpeg(Path(p["path"]), size=320)
    if thumb is None:
        st.warning(f"The cover file is gone: {code(p['path'])}")
    else:
        st.image(
            thumb,
            caption=plain(f"Selected cover: {p['genre']} ({p['split']}), cluster {p['cluster']}"),
        )
    st.caption(code(p["path"]))


def _clusters(analysis: Analysis) -> None:
    c = analysis.doc["clusters"]
    st.subheader(plain(f"Clusters (k-means, k = {c['k']}: {c['criterion']})"))
    for item in c["items"]:
        mix = ", ".join(f"{g} {s:.0%}" for g, s in item["genre_share"].items())
        label = f"cluster {item['cluster']} · {item['size']} covers · {mix}"
        if item.get("confusable"):
            label += f" · confusable: {item['region']}"
        strip = analysis.strip(item)
        st.markdown(plain(label))
        strip_png = figure_png(strip) if strip else None
        if strip_png:
            st.image(strip_png)
