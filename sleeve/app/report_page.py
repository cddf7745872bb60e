"""Report page: the latest run's evaluation (metrics per method, confusion, confused pairs)."""

from __future__ import annotations

import streamlit as st

from sleeve.app.data import load_run_report
from sleeve.app.ui import load_or_explain
from sleeve.settings import Settings


def render(settings: Settings) -> None:
    st.header("Evaluation report")
    report = load_or_explain(lambda: load_run_report(settings))
    if report is None:
        return
    m = report.metrics
    st.caption(
        f"Run `{report.run_dir}` · dataset `{m.get('dataset_id', '?')}` · "
        f"backbone `{m.get('backbone', '?')}`"
    )
    best = m.get("best") or {}
    if report.best_method:
        cols = st.columns(3)
        cols[0].metric("Best method (chosen on val)", report.best_method)
        cols[1].metric("Val weighted F1", _fmt(best.get("val_weighted_f1")))
        cols[2].metric("Test weighted F1", _fmt(best.get("test_weighted_f1")))
    st.subheader("Methods")
    st.dataframe(report.method_rows(), hide_index=True)
    if not report.methods:
        st.info("metrics.json lists no methods.")
        return
    best_name = report.best_method
    default = report.methods.index(best_name) if best_name in report.methods else 0
    method = st.selectbox("Method", report.methods, index=default, key="report_method")
    left, right = st.columns(2)
    confusion = report.confusion_png(method)
    if confusion:
        left.image(str(confusion), caption=f"Confusion matrix ({method}, test)")
    else:
        left.info(f"No confusion_{method}.png in this run.")
    pairs = report.confused_pairs_png
    if pairs:
        right.image(str(pairs), caption="Most confused genre pairs")
    else:
        right.info("No confused_pairs.png in this run.")
    st.subheader(f"Per genre ({method}, test)")
    st.dataframe(report.per_class_rows(method), hide_index=True)
    html = report.run_dir / "report.html"
    if html.is_file():
        st.caption(f"Full report: `{html}`")


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"
