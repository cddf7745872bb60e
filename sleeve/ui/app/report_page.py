"""Report page: any run's evaluation, from a metric down to the covers behind it.

Pick a run (any under runs/, LATEST first) and a method; every confusion-matrix cell is a
button that opens the covers in it (paged, each with its true and predicted genre and
probability, from predictions.csv); the confused pairs follow the selected method; a second
run can be compared side by side.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from sleeve.core.settings import Settings
from sleeve.inference.rundir import Run
from sleeve.training.evaluation.headline import headline_sentence
from sleeve.training.evaluation.selection import chosen_by
from sleeve.ui.app.data import RunReport, figure_png, load_run_report
from sleeve.ui.app.data_page import GRID_COLUMNS, thumbnail
from sleeve.ui.app.runs import (
    CellCover,
    cell_covers,
    compare_runs,
    confused_pairs,
    confusion_counts,
    list_runs,
    page,
    pages,
    predictions,
)
from sleeve.ui.app.ui import code, load_or_explain, pick_run, plain, run_label

PAGE_SIZE = 4 * GRID_COLUMNS
PAIR_EXAMPLES = 4


def render(settings: Settings) -> None:
    st.header("Evaluation report")
    chosen = pick_run(settings, "report_run")
    if chosen is None:
        return
    report = load_or_explain(lambda: load_run_report(settings, chosen))
    if report is None:
        return
    m = report.metrics
    st.caption(
        f"Run {code(report.run_dir)} · dataset {code(m.dataset_id)} · backbone {code(m.backbone)}"
    )
    if report.best_method:
        cols = st.columns(3)
        cols[0].metric(f"Best method (chosen {plain(chosen_by(m))})", report.best_method)
        cols[1].metric("Val weighted F1", _fmt(m.best.val_weighted_f1))
        cols[2].metric("Test weighted F1", _fmt(m.best.test_weighted_f1))
    if headline_sentence(m):
        st.info(plain(headline_sentence(m)))
    st.subheader("Methods")
    st.dataframe(report.method_rows(), hide_index=True)
    if not report.methods:
        st.info("metrics.json lists no methods.")
        return
    best_name = report.best_method
    default = report.methods.index(best_name) if best_name in report.methods else 0
    method = st.selectbox("Method", report.methods, index=default, key="report_method")
    rows = load_or_explain(lambda: predictions(report.run_dir))
    render_confusion(report, method, rows)
    render_pairs(report, method, rows)
    st.subheader(f"Per genre ({plain(method)}, test)")
    st.dataframe(report.per_class_rows(method), hide_index=True)
    html = Run(report.run_dir).report_html
    if html.is_file():
        st.caption(f"Full report: {code(html)}")
    render_comparison(settings, report)


def _select_cell(i: int, j: int) -> None:
    st.session_state["report_cell"] = (i, j)
    st.session_state["cell_page"] = 1


def render_confusion(report: RunReport, method: str, rows: list[dict[str, str]] | None) -> None:
    """The test confusion matrix as a grid of buttons (rows true, columns predicted)."""
    counts = confusion_counts(report, method)
    genres = report.metrics.genres
    st.subheader(f"Confusion matrix ({plain(method)}, test)")
    if not counts or len(counts) != len(genres):
        png = report.confusion_png(method)
        figure = figure_png(png) if png else None
        if figure:
            st.image(figure)
        else:
            st.info(f"No confusion matrix for {plain(method)} in this run.")
        return
    st.caption("Rows: true genre; columns: predicted. Click a cell to see its covers.")
    header = st.columns(len(genres) + 1)
    header[0].markdown("**true \\ predicted**")
    for col, g in zip(header[1:], genres, strict=True):
        col.markdown(f"**{plain(g)}**")
    for i, g in enumerate(genres):
        line = st.columns(len(genres) + 1)
        line[0].markdown(f"**{plain(g)}**")
        for j, n in enumerate(counts[i]):
            line[j + 1].button(
                f"{n:d}" + (" ✓" if i == j else ""),
                key=f"cell_{i}_{j}",
                on_click=_select_cell,
                args=(i, j),
                type="primary" if st.session_state.get("report_cell") == (i, j) else "secondary",
                width="stretch",
            )
    cell = st.session_state.get("report_cell")
    if cell is None or rows is None:
        return
    i, j = cell
    if i >= len(genres) or j >= len(genres):
        return
    covers = cell_covers(rows, method, genres[i], genres[j])
    total = pages(len(covers), PAGE_SIZE)
    st.markdown(
        f"**{len(covers)} test cover{'' if len(covers) == 1 else 's'}** of true "
        f"**{plain(genres[i])}** predicted **{plain(genres[j])}** "
        f"by {plain(method)}" + (f" · {total:d} pages" if total > 1 else "")
    )
    number = 1
    if total > 1:
        number = int(st.number_input("Page", 1, total, key="cell_page"))
    cover_grid(page(covers, number, PAGE_SIZE))


def cover_grid(covers: list[CellCover]) -> None:
    for start in range(0, len(covers), GRID_COLUMNS):
        cols = st.columns(GRID_COLUMNS)
        for col, c in zip(cols, covers[start : start + GRID_COLUMNS], strict=False):
            thumb = thumbnail(c.path)
            if thumb is None:
                col.warning(f"missing {code(c.sha256[:10])}")
            else:
                col.image(thumb, caption=plain(c.caption), width="stretch")


def render_pairs(report: RunReport, method: str, rows: list[dict[str, str]] | None) -> None:
    pairs = confused_pairs(report, method)
    st.subheader(f"Most confused genre pairs ({plain(method)}, test)")
    if not pairs:
        st.info(f"{plain(method)} confused no genres on test.")
        return
    genres = report.metrics.genres
    for n, pair in enumerate(pairs):
        st.markdown(
            f"**{plain(pair['true'])} → {plain(pair['predicted'])}**: {pair['count']:d} covers "
            f"({pair['rate']:.0%} of true {plain(pair['true'])})"
        )
        if rows is None:
            continue
        covers = cell_covers(rows, method, pair["true"], pair["predicted"])
        cover_grid(covers[:PAIR_EXAMPLES])
        if len(covers) > PAIR_EXAMPLES and pair["true"] in genres and pair["predicted"] in genres:
            st.button(
                f"All {len(covers)} covers of this pair",
                key=f"pair_{n}",
                on_click=_select_cell,
                args=(genres.index(pair["true"]), genres.index(pair["predicted"])),
            )


def render_comparison(settings: Settings, report: RunReport) -> None:
    st.subheader("Compare with another run")
    names = [str(p) for p in list_runs(settings)]
    others = [n for n in names if Path(n) != report.run_dir]
    if not others:
        st.info("Only one run so far: train again (other data or settings) to compare.")
        return
    other = st.selectbox(
        "Compare with",
        ["(none)", *others],
        format_func=lambda p: p if p == "(none)" else run_label(p, names),
        key="compare_run",
    )
    if other == "(none)":
        return
    b = load_or_explain(lambda: load_run_report(settings, Path(other)))
    if b is None:
        return
    diff = compare_runs(report, b)
    ids = diff["dataset_ids"]
    st.markdown(
        f"A = {code(report.run_dir.name)} (best {plain(diff['best'][0])}), "
        f"B = {code(b.run_dir.name)} (best {plain(diff['best'][1])}). "
        + (
            f"Same dataset {code(ids[0])}."
            if diff["same_dataset"]
            else f"Datasets differ: {code(ids[0])} → {code(ids[1])}."
        )
    )
    left, right = st.columns(2)
    left.markdown("**Test weighted F1 per method**")
    left.dataframe(diff["by_method"], hide_index=True)
    right.markdown("**Config differences**")
    if diff["config_diff"]:
        right.dataframe(diff["config_diff"], hide_index=True)
    else:
        right.write("Same settings.")
    st.markdown("**Test F1 per genre**")
    st.dataframe(diff["by_genre"], hide_index=True)


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"
