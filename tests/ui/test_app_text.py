"""The app's Data page searches an export's covers by the words read on them (text.jsonl)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sleeve.dataset.export import read_export, write_latest
from sleeve.dataset.text.cover_text import TEXT_TABLE, render_text_table
from sleeve.dataset.text.ocr import Word
from sleeve.ui.app.data import load_export, search_words
from tests.conftest import fast_settings
from tests.synthetic import write_synthetic_export
from tests.ui.test_app import APP_FILE

BOX = ((0, 0), (9, 0), (9, 9), (0, 9))


@pytest.fixture
def worded_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    export = write_synthetic_export(tmp_path / "export", per_split=(2, 1, 1), size=32)
    shas = [r.sha256 for r in read_export(export).rows]
    words = {sha: [] for sha in shas}
    words[shas[0]] = [Word("WILLIE NELSON", 0.98, BOX), Word("Stardust", 0.9, BOX)]
    words[shas[1]] = [Word("Nelly", 0.97, BOX)]
    (export / TEXT_TABLE).write_bytes(render_text_table(words))
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("SLEEVE_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    write_latest(tmp_path / "data" / "datasets", export)
    return export


def test_search_words_matches_every_term_case_insensitively(worded_export: Path) -> None:
    export = load_export(fast_settings(worded_export.parent / "data"))
    assert len(search_words(export.rows, export.words, "nel")) == 2
    assert len(search_words(export.rows, export.words, "NELSON stardust")) == 1
    assert search_words(export.rows, export.words, "cash") == []
    assert len(search_words(export.rows, export.words, "  ")) == len(export.rows)


def test_data_page_searches_covers_by_their_words(worded_export: Path) -> None:
    at = AppTest.from_file(str(APP_FILE), default_timeout=60).run()
    at = at.sidebar.radio(key="page").set_value("Data").run()
    assert not at.exception
    at.text_input(key="f_words").set_value("nelson").run()
    assert not at.exception
    assert "1 matching images" in " ".join(m.value for m in at.markdown)


def test_security_data_page_shows_cover_words_as_text(
    worded_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cover whose words are a Markdown image: the caption carries them escaped."""
    from sleeve.ui.app.ui import plain

    hostile = "![x](http://127.0.0.1:9/pixel.png)"
    shas = [r.sha256 for r in read_export(worded_export).rows]
    words = {sha: [] for sha in shas}
    words[shas[0]] = [Word(hostile, 0.98, BOX)]
    (worded_export / TEXT_TABLE).write_bytes(render_text_table(words))
    at = AppTest.from_file(str(APP_FILE), default_timeout=60).run()
    at = at.sidebar.radio(key="page").set_value("Data").run()
    assert not at.exception
    captions = [img.caption for e in at.get("image") for img in e.proto.imgs]
    assert any(plain(hostile) in c for c in captions)
    assert not any("![x](" in c for c in captions + [m.value for m in at.markdown])
