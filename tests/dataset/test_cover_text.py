"""Reading the words on covers (OCR): the engine, the catalog cache, `sleeve text`, the export."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage, CoverText
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.build import build_dataset
from sleeve.dataset.text import cli as text_cli
from sleeve.dataset.text.cover_text import TEXT_TABLE, catalog_images, ensure_text, load_text
from sleeve.dataset.text.ocr import ENGINE, Word, dumps, loads, read_words
from tests.dataset_support import write_tree
from tests.text_images import worded, worded_jpeg

pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("the OCR engine tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_reads_a_big_clear_word_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_network(monkeypatch)  # the models ship inside the wheel: nothing may be downloaded
    words = read_words(worded("NELSON"))
    assert [w.text for w in words] == ["NELSON"]
    assert words[0].confidence > 0.9
    xs = [x for x, _ in words[0].box]
    assert min(xs) > 20 and max(xs) < 280  # the box is around the centred word, in pixels


def test_a_cover_without_words_reads_nothing() -> None:
    assert read_words(Image.new("RGB", (200, 200), (120, 30, 30))) == []


def test_words_round_trip_through_json() -> None:
    words = [Word("CASH", 0.987654321, ((1, 2), (30, 2), (30, 12), (1, 12)))]
    back = loads(dumps(words))
    assert back[0].text == "CASH" and back[0].box == words[0].box
    assert back[0].confidence == pytest.approx(0.9877, abs=1e-4)


@pytest.fixture
def worded_catalog(sqlite_catalog: Catalog, settings, tmp_path: Path) -> Catalog:
    covers = {
        "Pop": {"a.jpg": worded_jpeg("MADONNA"), "b.jpg": worded_jpeg("ABBA")},
        "HipHop": {
            "c.jpg": worded_jpeg("NAS"),
            "d.jpg": worded_jpeg("", background=(20, 90, 160)),
        },
    }
    root = write_tree(tmp_path / "covers", covers)
    import_folder(sqlite_catalog, settings, Taxonomy.load(), root, progress=False)
    return sqlite_catalog


def _rows(catalog: Catalog) -> int:
    with catalog.session() as s:
        return int(s.execute(select(func.count()).select_from(CoverText)).scalar_one())


def test_text_is_cached_per_image_and_engine(worded_catalog: Catalog, settings) -> None:
    images = catalog_images(worded_catalog)
    first = ensure_text(worded_catalog, settings.data_dir, images, workers=1, progress=False)
    assert (first.read, first.cached, first.with_text) == (4, 0, 3)
    again = ensure_text(worded_catalog, settings.data_dir, images, workers=1, progress=False)
    assert (again.read, again.cached) == (0, 4)  # nothing read twice
    with worded_catalog.session() as s:
        engines = set(s.execute(select(CoverText.engine)).scalars())
    assert engines == {ENGINE}
    texts = {" ".join(w.text for w in ws) for ws in load_text(worded_catalog).values()}
    assert {"MADONNA", "ABBA", "NAS", ""} == texts


def test_unreadable_covers_are_skipped_and_counted(worded_catalog: Catalog, settings) -> None:
    with worded_catalog.session() as s:
        path = s.execute(select(CoverImage.path).limit(1)).scalar_one()
    (Path(settings.data_dir) / path).write_bytes(b"not an image at all")
    report = ensure_text(
        worded_catalog,
        settings.data_dir,
        catalog_images(worded_catalog),
        workers=1,
        progress=False,
    )
    assert report.read == 3 and sum(report.skipped.values()) == 1
    assert _rows(worded_catalog) == 3  # retried next time, not cached as "no words"


def test_sleeve_text_fills_the_cache_and_resumes(
    worded_catalog: Catalog, settings, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(settings.data_dir))
    assert text_cli.main(["--no-progress", "--workers", "1", "--limit", "2"]) == 0
    assert "read 2" in capsys.readouterr().out
    assert _rows(worded_catalog) == 2
    assert text_cli.main(["--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "read 2" in out and "2 already cached" in out
    assert _rows(worded_catalog) == 4


def test_build_dataset_exports_the_words(worded_catalog: Catalog, settings, tmp_path) -> None:
    out = tmp_path / "export"
    result = build_dataset(
        worded_catalog, settings, Taxonomy.load(), out=out, progress=False, splits=(0.5, 0.25, 0.25)
    )
    table = [json.loads(line) for line in (out / TEXT_TABLE).read_text().splitlines()]
    manifest_shas = {
        line.split(",")[1] for line in (out / "manifest.csv").read_text().splitlines()[1:]
    }
    assert {r["sha256"] for r in table} == manifest_shas
    read = {" ".join(w["text"] for w in r["words"]) for r in table}
    assert "MADONNA" in read
    assert all(set(w) == {"text", "confidence", "box"} for r in table for w in r["words"])
    assert result.card.text.covers == len(table)
    assert any("cover text" in n for n in result.notes)


def test_build_dataset_says_when_text_is_not_read(
    worded_catalog: Catalog, settings, tmp_path
) -> None:
    out = tmp_path / "export"
    result = build_dataset(
        worded_catalog,
        settings,
        Taxonomy.load(),
        out=out,
        progress=False,
        splits=(0.5, 0.25, 0.25),
        read_text=False,
    )
    assert not (out / TEXT_TABLE).exists()
    assert any("not read" in n for n in result.notes)
    assert _rows(worded_catalog) == 0


def test_parallel_reading_matches_serial(tmp_path: Path) -> None:
    from sleeve.dataset.text.ocr import read_files

    paths = []
    for i, word in enumerate(["ONE", "TWO", "SIX"] * 6):  # 18 files: enough for the pool
        p = tmp_path / f"{i}.jpg"
        p.write_bytes(worded_jpeg(word))
        paths.append(p)
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    paths.append(tmp_path / "bad.jpg")
    results = list(read_files(paths, workers=2, progress=False))
    assert [json.loads(r)[0]["text"] if r else reason for r, reason in results] == [
        "ONE",
        "TWO",
        "SIX",
    ] * 6 + ["not-an-image"]


def test_worded_jpeg_is_a_real_jpeg() -> None:
    assert Image.open(io.BytesIO(worded_jpeg("X"))).format == "JPEG"


def test_covers_stored_meanwhile_by_another_process_are_not_stored_twice(
    worded_catalog: Catalog, settings, monkeypatch
) -> None:
    from sleeve.dataset.text import cover_text

    images = catalog_images(worded_catalog)
    ensure_text(worded_catalog, settings.data_dir, images[:2], workers=1, progress=False)
    # a run that listed its work before the other one stored its covers
    monkeypatch.setattr(cover_text, "cached_shas", lambda *_a: set())
    report = ensure_text(worded_catalog, settings.data_dir, images, workers=1, progress=False)
    assert report.read == 4 and _rows(worded_catalog) == 4


def test_an_ambiguous_cover_s_words_reach_the_text_rung_with_its_tied_genres(
    sqlite_catalog: Catalog, settings, tmp_path: Path
) -> None:
    from sleeve.dataset.text.extra_text import EXTRA_TEXT_TABLE, read_extra_text_table

    both = worded_jpeg("MOBY", background=(200, 40, 40))  # filed under Pop and HipHop
    covers = {
        "Pop": {"a.jpg": worded_jpeg("MADONNA"), "b.jpg": worded_jpeg("ABBA"), "k.jpg": both},
        "HipHop": {"c.jpg": worded_jpeg("NAS"), "d.jpg": worded_jpeg("EMINEM"), "k.jpg": both},
    }
    root = write_tree(tmp_path / "covers", covers)
    import_folder(sqlite_catalog, settings, Taxonomy.load(), root, progress=False)
    out = tmp_path / "export"
    result = build_dataset(
        sqlite_catalog, settings, Taxonomy.load(), out=out, progress=False, splits=(0.5, 0.25, 0.25)
    )
    manifest = (out / "manifest.csv").read_text()
    (extra,) = read_extra_text_table(out / EXTRA_TEXT_TABLE)
    assert extra.sha256 not in manifest  # never exported: the image head does not see it
    assert [w.text for w in extra.words] == ["MOBY"]
    assert sorted(extra.genre_shares()) == [("pop", 0.5), ("rap", 0.5)]
    assert result.card.text.extra_ambiguous_covers == 1
    assert result.card.text.extra_train_covers == 1
