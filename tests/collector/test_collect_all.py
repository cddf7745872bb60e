"""`collect --source all`: both fakes over one catalogue, shared albums stored once; the CLI's
credential errors; no secret or token in any log line, output or file written."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sleeve.collector.cli import main as collect_main
from sleeve.collector.collect import collect, preflight
from sleeve.core.catalog.db import open_catalog
from sleeve.core.catalog.models import CoverImage, HarvestRun, ReleaseSource
from sleeve.core.errors import ConfigError
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices
from sleeve.fakes.spotify import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeSpotify,
    services_with_spotify,
)
from tests.conftest import fast_settings

TAXONOMY = Taxonomy.load()


@pytest.fixture(scope="module")
def catalogues() -> tuple[FakeCatalogue, FakeCatalogue]:
    return (
        FakeCatalogue.generate(["rap"], per_genre=80, seed=31),
        FakeCatalogue.generate(["rap"], per_genre=40, seed=32),
    )


@pytest.fixture
def fakes(
    catalogues: tuple[FakeCatalogue, FakeCatalogue],
) -> Iterator[tuple[FakeServices, FakeSpotify]]:
    shared, only = catalogues
    with services_with_spotify(shared, only=only, shared=0.6) as both:
        yield both


def _settings(fakes: tuple[FakeServices, FakeSpotify], data_dir: Path) -> Settings:
    fx, sp = fakes
    return sp.configure(
        fast_settings(data_dir, musicbrainz_url=fx.musicbrainz_url, coverart_url=fx.coverart_url)
    )


def test_all_spreads_over_both_sources_and_stores_shared_albums_once(
    fakes: tuple[FakeServices, FakeSpotify], tmp_path: Path
) -> None:
    _, sp = fakes
    settings = _settings(fakes, tmp_path / "data")
    cat = open_catalog(settings.catalog_url)
    summaries = collect(cat, settings, TAXONOMY, "rap", 60, source="all", progress=False)
    by_source = {s.source: s for s in summaries}
    assert set(by_source) == {"musicbrainz", "spotify"}
    assert sum(s.new for s in summaries) == 60
    assert by_source["musicbrainz"].new == 30 and by_source["spotify"].new == 30
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(CoverImage)) == 60
        rows = s.execute(
            select(
                ReleaseSource.release_id,
                ReleaseSource.source,
                ReleaseSource.kind,
                ReleaseSource.external_id,
            )
        ).all()
    release_of = {(src, kind, ext): rid for rid, src, kind, ext in rows}
    both = {rid for rid, src, _, _ in rows if src == "spotify"} & {
        rid for rid, src, _, _ in rows if src == "musicbrainz"
    }
    assert both, "no album was merged across sources"
    checked = 0
    for album in sp.catalogue.shared_albums():
        sp_rid = release_of.get(("spotify", "album", album.id))
        mb_rid = release_of.get(("musicbrainz", "release-group", album.release_group_id or ""))
        if sp_rid is not None and mb_rid is not None:
            assert sp_rid == mb_rid, f"{album.name!r} stored twice"
            checked += 1
    assert checked == len(both)
    cat.dispose()


def test_all_resumes_only_the_paused_source(
    fakes: tuple[FakeServices, FakeSpotify], tmp_path: Path
) -> None:
    _, sp = fakes
    settings = _settings(fakes, tmp_path / "data")
    cat = open_catalog(settings.catalog_url)
    # Rate-limit the first artist Spotify reaches before its 20 covers are done.
    seen, limited = 0, ""
    for artist in sp.catalogue.search_artists("rap", ""):
        limited = artist.id
        if seen + len(artist.album_ids) > 15:
            break
        seen += len(artist.album_ids)
    sp.faults.add("spotify", rf"/artists/{limited}/albums", "status", status=429, retry_after=9e4)
    first = collect(cat, settings, TAXONOMY, "rap", 40, source="all", progress=False)
    assert [s.state for s in first] == ["completed", "paused"]
    second = collect(cat, settings, TAXONOMY, "rap", 40, source="all", progress=False)
    assert [(s.source, s.state, s.resumed) for s in second] == [("spotify", "completed", True)]
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(CoverImage)) == 40
        assert s.scalar(select(func.count()).where(HarvestRun.source == "musicbrainz")) == 1
    cat.dispose()


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str]) -> Path:
    data = tmp_path / "data"
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)  # no stray ./.env
    for key in ("SPOTIPY_CLIENT_ID", "SPOTIPY_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)
    base = {
        "SLEEVE_DATA_DIR": str(data),
        "SLEEVE_BACKOFF_BASE": "0.01",
        "SLEEVE_MB_RATE": "50",
        "SLEEVE_BACKOFF_CAP": "0.2",
        "SLEEVE_MAX_RETRIES": "3",
    }
    for key, value in {**base, **values}.items():
        monkeypatch.setenv(key, value)
    return data


def test_missing_credentials_message_names_the_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _env(monkeypatch, tmp_path, {})
    code = collect_main(["--genre", "rap", "--limit", "5", "--source", "spotify", "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0
    assert "SPOTIPY_CLIENT_ID" in err and "SPOTIPY_CLIENT_SECRET" in err
    assert "https://developer.spotify.com/dashboard" in err
    with pytest.raises(ConfigError):  # the library check runs before anything touches disk
        preflight(fast_settings(data), "all")
    assert not (data / "images").exists()


def test_missing_credentials_write_nothing_via_the_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _env(monkeypatch, tmp_path, {})
    collect_main(["--genre", "rap", "--limit", "5", "--source", "all", "--no-progress"])
    assert not data.exists() or not any(data.iterdir())


def test_no_secret_or_token_in_logs_output_or_files(
    fakes: tuple[FakeServices, FakeSpotify],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fx, sp = fakes
    data = _env(monkeypatch, tmp_path, {**fx.env(), **sp.env()})
    caplog.set_level(logging.DEBUG)
    sp.expire_token_once(after=1)  # a renewal mid-run: two tokens to look for
    code = collect_main(
        ["--genre", "rap", "--limit", "30", "--source", "all", "-v", "--no-progress"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    bad = _env(monkeypatch, tmp_path / "bad", {**sp.env(), "SPOTIPY_CLIENT_SECRET": "not-it-xyz"})
    assert collect_main(["--genre", "rap", "--limit", "5", "--source", "spotify"]) == 2
    out2 = capsys.readouterr()
    assert "invalid_client" in out2.err
    tokens = sp.issued_tokens
    assert len(tokens) == 2
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    needles = [CLIENT_SECRET, basic, "not-it-xyz", *tokens]
    texts = {"log": caplog.text, "stdout": out.out + out2.out, "stderr": out.err + out2.err}
    for path in [*data.rglob("*"), *bad.parent.rglob("*")]:
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("latin-1")
    assert any(p.endswith("catalog.db") for p in texts)
    for where, text in texts.items():
        for needle in needles:
            assert needle not in text, f"a secret leaked into {where}"
