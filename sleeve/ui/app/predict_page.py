"""Predict page: upload a cover or paste a URL, see the top genres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from sleeve.core.errors import SleeveError
from sleeve.core.settings import Settings
from sleeve.inference.inputs import is_url
from sleeve.inference.predict import (
    PredictionResult,
    predict_bytes,
    predict_source,
)
from sleeve.inference.rundir import Run
from sleeve.ui.app.data import latest_run_dir
from sleeve.ui.app.launcher import upload_cap_mb
from sleeve.ui.app.ui import code, load_or_explain, plain


@st.cache_resource(show_spinner="Loading the model…")
def cached_classifier(run_dir: str, model_mtime: float) -> Any:
    """Loaded once per (run, model file version) for the whole server, shared by sessions."""
    from sleeve.inference.classifier import Classifier

    return Classifier.load(Path(run_dir))


def _model_mtime(run_dir: Path) -> float:
    model = Run(run_dir).model_path if run_dir.is_dir() else run_dir
    return model.stat().st_mtime if model.exists() else 0.0


def render(settings: Settings) -> None:
    st.header("Predict a cover's genre")
    run_dir = load_or_explain(lambda: latest_run_dir(settings))
    if run_dir is None:
        return
    try:
        classifier = cached_classifier(str(run_dir), _model_mtime(run_dir))
    except SleeveError as exc:
        st.error(f"Cannot load the model in {code(run_dir)}: {plain(exc)}")
        return
    st.caption(f"Model: {code(run_dir)} · genres: {plain(', '.join(classifier.genres))}")

    top_k = st.slider("Genres to show", 1, len(classifier.genres), min(3, len(classifier.genres)))
    cap = upload_cap_mb(settings)
    # the server-side cap is the launcher's --server.maxUploadSize; this one is the browser's
    upload = st.file_uploader("Upload a cover image", key="upload", max_upload_size=cap)
    st.caption(f"Images up to {cap:d} MB (SLEEVE_MAX_IMAGE_BYTES); JPEG, PNG, GIF, WebP or BMP.")
    url = st.text_input("…or paste an image URL", key="url", placeholder="https://…").strip()

    result: PredictionResult | None = None
    shown: bytes | str | None = None
    if upload is not None:
        data = upload.getvalue()
        result = predict_bytes(classifier, data, upload.name, top_k, settings)
        shown = data
    elif url:
        if not is_url(url):
            st.error("Enter an http:// or https:// URL.")
            return
        with st.spinner("Downloading…"):
            result = predict_source(classifier, url, top_k, settings)
        shown = url
    if result is None:
        st.write("Upload an image or paste a URL to see its top genres.")
        return
    show_result(result, shown)


def show_result(result: PredictionResult, shown: bytes | str | None) -> None:
    if not result.ok:
        st.error(f"Cannot use {plain(result.path)}: {plain(result.error)}")
        return
    left, right = st.columns([1, 2])
    if isinstance(shown, bytes):
        # only a validated image gets here, so st.image will not choke on it
        left.image(shown, caption=plain(result.path), width="stretch")
    elif shown:
        left.caption(plain(result.path))
    top = result.predictions[0]
    right.subheader(f"{plain(top.genre)} ({top.probability:.0%})")
    chart = {
        "genre": [p.genre for p in result.predictions],
        "probability": [p.probability for p in result.predictions],
    }
    right.bar_chart(
        chart, x="genre", y="probability", horizontal=True, sort="-probability", height=240
    )
    right.dataframe(
        [{"genre": p.genre, "probability": round(p.probability, 4)} for p in result.predictions],
        hide_index=True,
    )
    if result.words is not None:  # a model with a text rung read the cover's words
        if result.words:
            words = " · ".join(t for t, _ in result.words)
            right.markdown("**Words read on the cover:** " + plain(words))
        else:
            right.caption("No words read on the cover: the picture alone decided.")
        show_artist(result, right)


def show_artist(result: PredictionResult, where: Any) -> None:
    """The artist the cover's words named (the model's artist table) and what it moved."""
    artist = result.artist
    if artist is None:
        where.caption("No artist of the model's artist table named on the cover.")
        return
    moved = sorted(artist.shift.items(), key=lambda kv: -abs(kv[1]))[:3]
    shift = ", ".join(f"{g} {d:+.1%}" for g, d in moved)
    where.markdown(
        f"**Artist recognised:** {plain(artist.name)} ({code(artist.key)}, named by "
        f"“{plain(artist.words)}”; {artist.covers:d} train covers, weight {artist.weight:g}); "
        f"it moved {plain(shift)}"
    )
