"""Data page: catalog counts, the latest dataset export with filters, duplicate groups."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from sleeve.core.settings import Settings
from sleeve.dataset.export import DatasetExport, ManifestRow
from sleeve.ui.app.data import (
    FACE_CHOICES,
    STYLE_CHOICES,
    catalog_counts,
    catalog_duplicate_groups,
    column_values,
    filter_by_attributes,
    filter_rows,
    load_attributes,
    load_export,
    search_words,
    split_genre_counts,
    thumbnail_jpeg,
    visual_pairs,
    word_pairs,
)
from sleeve.ui.app.ui import code, load_or_explain, plain

GRID_COLUMNS = 6
MAX_THUMBNAILS = 60
MAX_GROUPS = 12


@st.cache_data(show_spinner=False, max_entries=2000)
def _thumbnail(path: str, mtime: float) -> bytes | None:
    return thumbnail_jpeg(Path(path))


def thumbnail(path: Path) -> bytes | None:
    try:
        return _thumbnail(str(path), path.stat().st_mtime)
    except OSError:
        return None


def render(settings: Settings) -> None:
    st.header("Data")
    catalog_tab, export_tab, dup_tab = st.tabs(["Catalog", "Dataset export", "Duplicates"])
    with catalog_tab:
        render_catalog(settings)
    export = load_or_explain(lambda: load_export(settings), export_tab)
    if export is not None:
        with export_tab:
            render_export(export)
    with dup_tab:
        render_duplicates(settings, export)


def render_catalog(settings: Settings) -> None:
    counts = load_or_explain(lambda: catalog_counts(settings))
    if counts is None:
        return
    a, b = st.columns(2)
    a.metric("Releases", counts.releases)
    b.metric("Stored covers", counts.covers)
    st.subheader("Releases per genre and evidence source")
    if counts.by_genre:
        st.dataframe(counts.by_genre, hide_index=True)
    else:
        st.info("No genre evidence mapped to the taxonomy yet.")
    st.subheader("Covers per source")
    st.dataframe(counts.covers_by_source, hide_index=True)
    if counts.failures_by_reason:
        with st.expander("Skipped / failed items by reason"):
            st.dataframe(counts.failures_by_reason, hide_index=True)


def render_export(export: DatasetExport) -> None:
    st.caption(
        f"Export {code(export.root)} · dataset {code(export.dataset_id)} · "
        f"{len(export.rows)} images"
    )
    st.subheader("Images per genre and split")
    st.dataframe(split_genre_counts(export), hide_index=True)
    weights = export.card.class_weights
    if weights:
        with st.expander("Class weights and oversampling (card.json)"):
            st.dataframe(
                [
                    {
                        "genre": g,
                        "class weight": w,
                        "oversample": export.card.oversample.get(g),
                    }
                    for g, w in sorted(weights.items())
                ],
                hide_index=True,
            )
    st.subheader("Browse")
    c1, c2, c3 = st.columns(3)
    genres = c1.multiselect("Genre", column_values(export.rows, "genre"), key="f_genre")
    splits = c2.multiselect("Split", column_values(export.rows, "split"), key="f_split")
    sources = c3.multiselect("Source", column_values(export.rows, "source"), key="f_source")
    rows = filter_rows(export.rows, genres=genres, splits=splits, sources=sources)
    if export.words:  # the export carries the words read on each cover (text.jsonl)
        query = st.text_input("Words on the cover", key="f_words", placeholder="e.g. nelson")
        rows = search_words(rows, export.words, query)
    attrs = load_attributes(export)
    if attrs:  # build-dataset --attributes: filter by what the covers show
        rows = attribute_filters(export, attrs, rows)
    st.markdown(
        f"{len(rows)} matching images"
        + (f" (showing the first {MAX_THUMBNAILS})" if len(rows) > MAX_THUMBNAILS else "")
    )
    thumbnail_grid(export, rows[:MAX_THUMBNAILS], attrs)


def attribute_filters(
    export: DatasetExport, attrs: dict[str, dict[str, str]], rows: list[ManifestRow]
) -> list[ManifestRow]:
    """The per-genre attribute profile, and face / saturation filters over ``rows``."""
    profile = export.card.attributes.profile if export.card.attributes else {}
    if profile:
        with st.expander(
            "Attributes per genre (card.json; definitions: `sleeve attributes --list`)"
        ):
            st.dataframe([{"genre": g, **p} for g, p in profile.items()], hide_index=True)
    columns = next(iter(attrs.values())).keys()
    c1, c2, c3 = st.columns(3)
    face = "any"
    if "faces.face_count" in columns:
        face = c1.selectbox("Faces", FACE_CHOICES, key="f_face")
    style = "any"
    if "style.style" in columns:
        style = c2.selectbox("Style", STYLE_CHOICES, key="f_style")
    saturation = (0.0, 1.0)
    if "colour.saturation" in columns:
        saturation = c3.slider("Saturation", 0.0, 1.0, (0.0, 1.0), 0.05, key="f_saturation")
    return filter_by_attributes(rows, attrs, face=face, saturation=saturation, style=style)


def render_duplicates(settings: Settings, export: DatasetExport | None) -> None:
    summary = export.card.duplicates if export is not None else None
    if summary:
        with st.expander("Duplicate summary of the latest export (card.json)"):
            st.json(summary.to_dict())
    card = export.card if export is not None else None
    pairs, by_words = visual_pairs(card), word_pairs(card)
    groups = load_or_explain(
        lambda: catalog_duplicate_groups(settings, extra_pairs=pairs, word_pairs=by_words)
    )
    if groups is None:
        return
    if not groups:
        st.info("No near-duplicate covers in the catalog.")
        return
    by_visual = sum(1 for g in groups if "visual" in g[0].found_by)
    st.markdown(
        f"{len(groups)} group{'s' if len(groups) != 1 else ''} of near-duplicate covers in the "
        "catalog; an export keeps the "
        "marked one (largest resolution) of each"
        + (
            f"; {by_visual:d} joined by the visual stage (same album, another scan or photo; "
            "'visual + words': confirmed by the words printed on the covers; listed first)"
            if by_visual
            else ""
        )
        + (f"; showing {MAX_GROUPS}" if len(groups) > MAX_GROUPS else "")
    )
    # the visual stage's finds first: they are the ones a reader will want to check by eye
    groups = sorted(groups, key=lambda g: "visual" not in g[0].found_by)
    for group in groups[:MAX_GROUPS]:
        st.markdown(
            f"**{len(group)} covers** · {code(group[0].sha256[:12])} · found by "
            f"{plain(group[0].found_by)}"
        )
        cols = st.columns(GRID_COLUMNS)
        for col, member in zip(cols, group[:GRID_COLUMNS], strict=False):
            thumb = thumbnail(member.path)
            caption = f"{member.width:d}x{member.height:d}" + (" · kept" if member.kept else "")
            if thumb is None:
                col.warning(f"missing {code(member.sha256[:10])}")
            else:
                col.image(thumb, caption=plain(caption), width="stretch")


def attribute_caption(a: dict[str, str] | None) -> str:
    """What the cover shows, for its caption: style, faces, text share (when measured)."""
    if not a:
        return ""
    parts = []
    if a.get("style.style"):
        parts.append(a["style.style"])
    if a.get("faces.face_count"):
        n = int(float(a["faces.face_count"]))
        parts.append(f"{n} face{'s' if n != 1 else ''}")
    if a.get("text.share"):
        parts.append(f"text {float(a['text.share']):.0%}")
    return "".join(f" · {p}" for p in parts)


def thumbnail_grid(
    export: DatasetExport,
    rows: Sequence[ManifestRow],
    attrs: dict[str, dict[str, str]] | None = None,
) -> None:
    for start in range(0, len(rows), GRID_COLUMNS):
        cols = st.columns(GRID_COLUMNS)
        for col, row in zip(cols, rows[start : start + GRID_COLUMNS], strict=False):
            thumb = thumbnail(export.image_path(row))
            caption = f"{row.genre} · {row.split} · {row.source}"
            caption += attribute_caption((attrs or {}).get(row.sha256))
            if export.words.get(row.sha256):
                caption += f" · “{export.words[row.sha256][:40]}”"
            if thumb is None:
                col.warning(f"missing {code(row.sha256[:10])}")
            else:  # every part came from a catalogue, a cover's words or a file: plain text
                col.image(thumb, caption=plain(caption), width="stretch")
