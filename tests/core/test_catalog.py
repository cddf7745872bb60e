"""The catalog on SQLite and on a real PostgreSQL server (SLEEVE_TEST_POSTGRES_URL)."""

from __future__ import annotations

from sqlalchemy import func, inspect, select, text

from sleeve.collector import records
from sleeve.core.catalog.db import Catalog, current_revision, head_revision, open_catalog
from sleeve.core.catalog.integrity import check_integrity
from sleeve.core.catalog.models import (
    CoverImage,
    GenreEvidence,
    Release,
    ReleaseImage,
    ReleaseSource,
)
from sleeve.core.images.intake import inspect_image
from sleeve.core.images.store import ImageStore
from sleeve.core.taxonomy import Taxonomy
from tests.images import jpeg

TABLES = {
    "artists",
    "releases",
    "release_sources",
    "genre_evidence",
    "cover_images",
    "release_images",
    "image_hashes",
    "harvest_runs",
    "harvest_cursors",
    "harvest_items",
    "failures",
    "cover_text",
}


def test_migrations_build_the_schema_and_are_idempotent(catalog: Catalog, catalog_url: str) -> None:
    assert set(inspect(catalog.engine).get_table_names()) >= TABLES
    assert current_revision(catalog.engine) == head_revision(catalog_url)
    again = open_catalog(catalog_url)  # upgrading an up-to-date schema changes nothing
    assert current_revision(again.engine) == head_revision(catalog_url)
    again.dispose()


def test_cover_text_migration_downgrades_and_upgrades_again(catalog_url: str) -> None:
    from alembic import command

    from sleeve.core.catalog.db import alembic_config

    cat = open_catalog(catalog_url)
    cfg = alembic_config(catalog_url)
    with cat.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert "cover_text" not in inspect(cat.engine).get_table_names()
    cat.dispose()
    again = open_catalog(catalog_url)  # 0001 -> head
    assert "cover_text" in inspect(again.engine).get_table_names()
    again.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_catalog: Catalog) -> None:
    with sqlite_catalog.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def _store_release(
    catalog: Catalog,
    store: ImageStore,
    taxonomy: Taxonomy,
    rgid: str,
    data: bytes,
    tags: list[tuple[str, int]],
) -> None:
    with catalog.session() as s:
        artist = records.get_or_create_artist(s, "musicbrainz", "a-1", "The Wailers")
        release, _ = records.upsert_release(
            s,
            source="musicbrainz",
            ids={"release-group": rgid},
            title=f"Album {rgid}",
            artist=artist,
            date="1973-04-13",
        )
        evidence = [records.Evidence("rg-tag", n, v) for n, v in tags]
        records.add_evidence(s, release, "musicbrainz", evidence, taxonomy)
        records.attach_cover(
            s,
            store,
            release,
            data,
            inspect_image(data),
            source="musicbrainz",
            source_url=f"http://caa/{rgid}",
        )


def test_rerunning_never_duplicates(catalog: Catalog, tmp_path) -> None:
    store, taxonomy, data = ImageStore(tmp_path), Taxonomy.load(), jpeg()
    for _ in range(2):
        _store_release(catalog, store, taxonomy, "rg-1", data, [("reggae", 3), ("reggaeton", 1)])
    with catalog.session() as s:
        assert s.scalar(select(func.count()).select_from(Release)) == 1
        assert s.scalar(select(func.count()).select_from(ReleaseSource)) == 1
        assert s.scalar(select(func.count()).select_from(CoverImage)) == 1
        mapped = dict(s.execute(select(GenreEvidence.name, GenreEvidence.target_genre)).all())
    assert mapped == {"reggae": "reggae", "reggaeton": None}  # kept, but never mapped to reggae


def test_byte_identical_covers_are_stored_once_and_linked_twice(catalog: Catalog, tmp_path) -> None:
    store, taxonomy, data = ImageStore(tmp_path), Taxonomy.load(), jpeg()
    _store_release(catalog, store, taxonomy, "rg-1", data, [("reggae", 1)])
    _store_release(catalog, store, taxonomy, "rg-2", data, [("dub", 1)])
    with catalog.session() as s:
        assert s.scalar(select(func.count()).select_from(CoverImage)) == 1
        assert s.scalar(select(func.count()).select_from(ReleaseImage)) == 2
    report = check_integrity(catalog, store)
    assert report.ok and report.images == 1


def test_same_album_from_two_sources_is_one_release(catalog: Catalog) -> None:
    with catalog.session() as s:
        mb_artist = records.get_or_create_artist(s, "musicbrainz", "mbid-1", "The Police")
        sp_artist = records.get_or_create_artist(s, "spotify", "sp-1", "Police")
        first, created1 = records.upsert_release(
            s,
            source="musicbrainz",
            ids={"release-group": "rg-9"},
            title="Synchronicity",
            artist=mb_artist,
            date="1983-06-17",
        )
        second, created2 = records.upsert_release(
            s,
            source="spotify",
            ids={"album": "sp-album-9"},
            title="Synchronicity (Remastered)",
            artist=sp_artist,
            date="1983",
        )
        assert created1 and not created2 and first.id == second.id
        kinds = {(r.source, r.kind) for r in s.scalars(select(ReleaseSource))}
    assert kinds == {("musicbrainz", "release-group"), ("spotify", "album")}


def test_barcode_merges_even_when_titles_differ(catalog: Catalog) -> None:
    with catalog.session() as s:
        a, _ = records.upsert_release(
            s,
            source="musicbrainz",
            ids={"release": "r1"},
            title="Live",
            artist=None,
            barcode="075678263927",
        )
        b, _ = records.upsert_release(
            s,
            source="spotify",
            ids={"album": "x"},
            title="Live (Deluxe)",
            artist=None,
            barcode="0075678263927",
        )
        assert a.id == b.id


def test_integrity_check_finds_missing_and_changed_files(catalog: Catalog, tmp_path) -> None:
    store, taxonomy = ImageStore(tmp_path), Taxonomy.load()
    first, second = jpeg((1, 2, 3)), jpeg((200, 100, 50))
    _store_release(catalog, store, taxonomy, "rg-1", first, [])
    _store_release(catalog, store, taxonomy, "rg-2", second, [])
    (tmp_path / store.relpath(inspect_image(first))).unlink()
    (tmp_path / store.relpath(inspect_image(second))).write_bytes(b"x")
    report = check_integrity(catalog, store)
    assert report.missing == [inspect_image(first).sha256]
    assert report.mismatched == [inspect_image(second).sha256]


def test_failures_count_attempts(catalog: Catalog) -> None:
    with catalog.session() as s:
        for _ in range(3):
            records.record_failure(s, url="http://x/" + "a" * 3000, reason="html", detail="d")
    with catalog.session() as s:
        from sleeve.core.catalog.models import Failure

        rows = s.scalars(select(Failure)).all()
        assert len(rows) == 1 and rows[0].attempts == 3 and len(rows[0].url) <= 1000


def test_sleeve_db_check_reports_a_missing_file(settings, monkeypatch, capsys) -> None:
    from sleeve.ui.catalog_cli import main

    catalog = open_catalog(settings.catalog_url)
    store = ImageStore(settings.data_dir)
    _store_release(catalog, store, Taxonomy.load(), "rg-1", jpeg(), [])
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(settings.data_dir))
    assert main(["check"]) == 0
    (settings.data_dir / store.relpath(inspect_image(jpeg()))).unlink()
    assert main(["check"]) == 1
    assert "1 missing" in capsys.readouterr().out
