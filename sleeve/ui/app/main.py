"""The Streamlit app: `streamlit run sleeve/ui/app/main.py` (or `sleeve app`).

Pages are picked with a sidebar radio (simple, and drivable from AppTest and a browser alike).
Settings are read from the environment / ./.env on every rerun, exactly as the commands do.
"""

from __future__ import annotations

import streamlit as st

from sleeve.core.errors import ConfigError
from sleeve.core.settings import load_settings
from sleeve.ui.app import analysis_page, data_page, predict_page, report_page, review_page
from sleeve.ui.app.ui import code, plain

PAGES = {
    "Predict": predict_page.render,
    "Report": report_page.render,
    "Data": data_page.render,
    "Review": review_page.render,
    "Analysis": analysis_page.render,
}


def main() -> None:
    st.set_page_config(page_title="sleeve", page_icon="💿", layout="wide")
    st.sidebar.title("sleeve")
    st.sidebar.caption("Album covers → genres")
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    try:
        settings = load_settings()
    except ConfigError as exc:
        st.error(f"Settings problem: {plain(exc)}")
        return
    st.sidebar.caption(f"Data directory: {code(settings.data_dir)}")
    PAGES[page](settings)


if __name__ == "__main__":
    main()
