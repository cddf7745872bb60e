"""Spotify harvest against the loopback fake: covers, provenance, tokens, rate limits, 403s."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from sleeve.collector.collect import collect
from sleeve.collector.harvest_spotify import harvest_spotify, spotify_client
from sleeve.collector.http import http_client
from sleeve.collector.spotify_auth import SpotifyToken
from sleeve.core.catalog.db import Catalog, open_catalog
from sleeve.core.catalog.models import (
    CoverImage,
    GenreEvidence,
    HarvestCursor,
    HarvestRun,
    ReleaseSource,
)
from sleeve.core.errors import ConfigError
from sleeve.core.settings import Secret, Settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.spotify import CLIENT_ID, CLIENT_SECRET, FakeSpotify
from tests.conftest import fast_settings

TAXONOMY = Taxonomy.load()


@pytest.fixture(scope="module")
def catalogues() -> tuple[FakeCatalogue, FakeCatalogue]:
    shared = FakeCatalogue.generate(["rap", "reggae"], per_genre=60, seed=11)
    only = FakeCatalogue.generate(["rap", "reggae"], per_genre=50, seed=12)
    return shared, only


@pytest.fixture
def fake(catalogues: tuple[FakeCatalogue, FakeCatalogue]) -> Iterator[FakeSpotify]:
    shared, only = catalogues
    with FakeSpotify(shared, only=only) as sp:
        yield sp


@pytest.fixture
def sp_settings(fake: FakeSpotify, tmp_path: Path) -> Settings:
    return fake.configure(fast_settings(tmp_path / "data"))


@pytest.fixture
def cat(sp_settings: Settings) -> Iterator[Catalog]:
    c = open_catalog(sp_settings.catalog_url)
    yield c
    c.dispose()


def _harvest(cat: Catalog, settings: Settings, genre: str = "rap", n: int = 60):
    return harvest_spotify(cat, settings, TAXONOMY, genre, n, progress=False)


def test_harvest_stores_distinct_covers_with_provenance(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog
) -> None:
    summary = _harvest(cat, sp_settings, n=60)
    assert (summary.state, summary.new) == ("completed", 60), summary
    with cat.session() as s:
        images = s.scalars(select(CoverImage)).all()
        assert len(images) == 60 and len({i.sha256 for i in images}) == 60
        # The largest image <= 640 by width, also for legacy albums listing 300 px first.
        assert {(i.width, i.height) for i in images} == {(640, 640)}
        for image in images:
            assert (sp_settings.data_dir / image.path).is_file()
        albums = s.scalar(
            select(func.count()).where(
                ReleaseSource.source == "spotify", ReleaseSource.kind == "album"
            )
        )
        assert albums >= 60
        kinds = {e.kind for e in s.scalars(select(GenreEvidence))}
        assert kinds == {"artist-genre", "search-filter"}  # artists with and without genres
        filters = set(TAXONOMY.get("rap").spotify_search)
        for e in s.scalars(select(GenreEvidence).where(GenreEvidence.kind == "search-filter")):
            assert e.name in filters and e.target_genre == "rap"
    # Dev-Mode limits: never more than 10 per page; the CDN never sees the bearer token.
    limits = [parse_qs(urlsplit(r.target).query).get("limit") for r in fake.requests("spotify")]
    assert limits and all(int(v[0]) <= 10 for v in limits if v)
    assert all("Authorization" not in r.headers for r in fake.requests("spotify-cdn"))
    assert fake.tokens_issued == 1


def test_two_hundred_covers(
    catalogues: tuple[FakeCatalogue, FakeCatalogue], tmp_path: Path
) -> None:
    shared = FakeCatalogue.generate(["rap"], per_genre=200, seed=21)
    only = FakeCatalogue.generate(["rap"], per_genre=160, seed=22)
    with FakeSpotify(shared, only=only) as sp:
        settings = sp.configure(fast_settings(tmp_path / "data"))
        c = open_catalog(settings.catalog_url)
        summary = _harvest(c, settings, n=200)
        with c.session() as s:
            assert s.scalar(select(func.count()).select_from(CoverImage)) == 200
        c.dispose()
    assert (summary.state, summary.new) == ("completed", 200)


def test_reggaeton_artists_found_by_reggae_filter_do_not_count_as_reggae(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog
) -> None:
    summary = _harvest(cat, sp_settings, "reggae", 10_000)
    assert summary.state == "exhausted" and summary.new > 0
    with cat.session() as s:
        rows = s.scalars(select(GenreEvidence).where(GenreEvidence.name == "reggaeton")).all()
    assert rows, "the fake's reggaeton artists should have been harvested"
    assert all(r.target_genre is None and r.weight == 0.0 for r in rows)


def test_token_expired_mid_run_is_renewed_once(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog
) -> None:
    fake.expire_token_once(after=4)
    summary = _harvest(cat, sp_settings, n=30)
    assert (summary.state, summary.new) == ("completed", 30)
    assert fake.tokens_issued == 2
    assert [r.status for r in fake.requests("spotify")].count(401) == 1


def test_token_renewed_when_less_than_a_minute_is_left(fake: FakeSpotify) -> None:
    now = [1000.0]
    settings = fake.configure(fast_settings(Path("/nonexistent")))
    token = SpotifyToken(
        http_client(settings, "spotify"),
        fake.token_url,
        CLIENT_ID,
        Secret(CLIENT_SECRET),
        clock=lambda: now[0],
    )
    first = token.bearer()
    now[0] += 3600 - 61
    assert token.bearer() == first and token.issued == 1
    now[0] += 2  # 59 s left
    assert token.bearer() != first and token.issued == 2


def test_huge_retry_after_pauses_cleanly_and_resume_reaches_n(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog
) -> None:
    third = fake.catalogue.search_artists("rap", "")[2].id
    fake.faults.add(
        "spotify", rf"/artists/{third}/albums", "status", status=429, retry_after=80000, body=""
    )  # an empty-body 429, as seen in the wild
    first = _harvest(cat, sp_settings, n=40)
    assert first.state == "paused" and 0 < first.new < 40
    assert "UTC" in first.message and "SPOTIFY_RETRY_AFTER_CAP" in first.message
    with cat.session() as s:
        run = s.get(HarvestRun, first.run_id)
        assert run is not None and run.state == "paused" and run.new_covers == first.new
        cursor = s.scalars(select(HarvestCursor).where(HarvestCursor.source == "spotify")).first()
        assert cursor is not None and not cursor.exhausted
    second = _harvest(cat, sp_settings, n=40)
    assert second.resumed and second.run_id == first.run_id
    assert (second.state, second.new) == ("completed", 40)
    cdn = [r.target for r in fake.requests("spotify-cdn")]
    assert len(cdn) == len(set(cdn)), "a resumed run downloaded a cover twice"


def test_small_retry_after_5xx_and_truncated_json_are_retried(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog
) -> None:
    fake.faults.add("spotify", r"^/v1/search", "status", times=2, status=429, retry_after=0.05)
    fake.faults.add("spotify", r"/albums", "status", times=1, status=502)
    fake.faults.add("spotify", r"/albums", "truncate-json", times=1)
    fake.faults.add("spotify-cdn", r"^/image/", "status", times=1, status=503)
    summary = _harvest(cat, sp_settings, n=25)
    assert (summary.state, summary.new) == ("completed", 25)
    assert not fake.faults.pending()


def test_403_stops_the_source_with_a_clear_message(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog
) -> None:
    fake.faults.add(
        "spotify", r"/artists/[^/]+/albums", "status", times=None, status=403, message="Forbidden"
    )
    summary = _harvest(cat, sp_settings, n=20)
    assert summary.state == "failed" and summary.new == 0
    assert "Development-Mode" in summary.message and "--source musicbrainz" in summary.message
    assert sum("/albums" in r.target for r in fake.requests("spotify")) == 1  # no retry loop


def test_search_window_end_is_exhaustion_not_failure(
    catalogues: tuple[FakeCatalogue, FakeCatalogue], tmp_path: Path
) -> None:
    shared, only = catalogues
    with FakeSpotify(shared, only=only, search_window=10) as sp:
        settings = sp.configure(fast_settings(tmp_path / "data"))
        c = open_catalog(settings.catalog_url)
        summary = _harvest(c, settings, n=10_000)
        c.dispose()
    assert summary.state == "exhausted" and summary.new > 0


def test_bad_credentials_clear_message_and_nothing_recorded(
    fake: FakeSpotify, sp_settings: Settings, cat: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    bad = replace(sp_settings, spotify_client_secret=Secret("wrong-secret-value"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as err:
        collect(cat, bad, TAXONOMY, "rap", 10, source="spotify", progress=False)
    message = str(err.value)
    assert "invalid_client" in message and "SPOTIPY_CLIENT_ID" in message
    assert "developer.spotify.com/dashboard" in message and "wrong-secret-value" not in message
    assert "wrong-secret-value" not in caplog.text
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(HarvestRun)) == 0
    assert not (sp_settings.data_dir / "images").exists()


def test_fake_speaks_spotify(fake: FakeSpotify) -> None:
    """The fake's contract the client relies on (shapes from shared/docs/spotify.md)."""
    basic = base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
    r = requests.post(
        fake.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=5,
    )
    assert r.status_code == 400 and r.json() == {
        "error": "invalid_client",
        "error_description": "Invalid client",
    }
    assert requests.get(f"{fake.api_url}/search", timeout=5).json()["error"]["message"] == (
        "No token provided"
    )
    token = spotify_client(fake.configure(fast_settings(Path("/x")))).token.bearer()
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.get(
        f"{fake.api_url}/search",
        params={"q": 'genre:"rap"', "type": "artist", "limit": 20},
        headers=auth,
        timeout=5,
    )
    assert (r.status_code, r.json()["error"]["message"]) == (400, "Invalid limit")
    page = requests.get(
        f"{fake.api_url}/search",
        params={"q": 'genre:"rap"', "type": "artist", "limit": 10},
        headers=auth,
        timeout=5,
    ).json()["artists"]
    assert page["next"].startswith(fake.api_url + "/search?query=")
    nxt = requests.get(page["next"], headers=auth, timeout=5).json()["artists"]
    assert nxt["offset"] == 10 and nxt["previous"]


def test_albums_refused_by_a_setting_are_retried_when_it_is_raised(
    cat: Catalog, sp_settings: Settings
) -> None:
    """Issue 21 #9 for Spotify: albums are found by walking artists, so raising
    SLEEVE_MAX_IMAGE_BYTES lists the genre's artists again and fetches the refused covers."""
    from dataclasses import replace

    low = replace(sp_settings, max_image_bytes=2048)
    first = _harvest(cat, low, n=10)
    refused = first.failed["too-large"] + first.skipped["too-large"]
    assert first.new == 0 and refused > 0
    assert f"{refused} skipped as too-large under SLEEVE_MAX_IMAGE_BYTES=2048" in first.message
    assert "Spotify has no more" not in first.message
    second = _harvest(cat, sp_settings, n=10)
    assert second.new == min(10, refused)
