"""Every fault kind of the fake services triggers as documented (faults.py), and only as often
as armed; catalogues with ``bad_art_rate`` serve broken art for exactly the reported releases."""

from __future__ import annotations

import io
import struct
import time
from collections import Counter

import pytest
import requests
from PIL import Image

from sleeve.fakes import BAD_ART_KINDS, FAULT_KINDS, FakeCatalogue, FakeServices

UA = {"User-Agent": "sleeve-tests/0.1 ( tests@example.org )"}


@pytest.fixture(scope="module")
def cat() -> FakeCatalogue:
    return FakeCatalogue.generate(["pop", "reggae"], per_genre=20, seed=5)


@pytest.fixture(scope="module")
def services(cat: FakeCatalogue):
    with FakeServices(cat) as fx:
        yield fx


@pytest.fixture()
def fx(services: FakeServices):
    services.faults.clear()
    yield services
    services.faults.clear()


@pytest.fixture()
def http() -> requests.Session:
    s = requests.Session()
    s.headers.update(UA)
    return s


def _search_url(fx: FakeServices) -> str:
    return f"{fx.musicbrainz_url}/release-group?query=tag:pop&fmt=json&limit=5"


def _front_url(fx: FakeServices, cat: FakeCatalogue, size: int = 250) -> str:
    rel = next(r for r in cat.releases.values() if r.front and not r.darkened and not r.bad_art)
    return f"{fx.coverart_url}/release/{rel.id}/front-{size}"


def test_unknown_fault_and_service_rejected(fx):
    with pytest.raises(ValueError, match="unknown fault"):
        fx.faults.add("musicbrainz", ".", "explode")
    with pytest.raises(ValueError, match="unknown service"):
        fx.faults.add("lastfm", ".", "drop")
    assert "redirect-loop" in FAULT_KINDS


def test_status_fault_applies_times_then_clears(fx, http):
    rule = fx.faults.add(
        "musicbrainz", r"/release-group\?", "status", times=2, status=503, retry_after="2"
    )
    first, second, third = (http.get(_search_url(fx), timeout=5) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["Retry-After"] == "2"
    assert set(first.json()) == {"error", "help"}
    assert rule.hits == 2 and rule.remaining == 0 and fx.faults.pending() == []


def test_status_fault_custom_body_on_coverart(fx, http, cat):
    fx.faults.add("coverart", r"/front", "status", status=429, body="slow down")
    r = http.get(_front_url(fx, cat), timeout=5)
    assert r.status_code == 429 and r.text == "slow down"
    assert "Retry-After" not in r.headers
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_regex_matches_path_and_query_and_wildcard_service(fx, http):
    fx.faults.add("*", r"fmt=json&limit=5$", "not-found", times=None)
    r = http.get(_search_url(fx), timeout=5)
    assert r.status_code == 404 and r.json()["error"] == "Not Found"
    assert http.get(_search_url(fx) + "&offset=0", timeout=5).status_code == 200


def test_slow_and_slow_body(fx, http, cat):
    fx.faults.add("musicbrainz", "genre/all", "slow", delay=0.3)
    t0 = time.monotonic()
    assert http.get(f"{fx.musicbrainz_url}/genre/all?fmt=json", timeout=5).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    expected = http.get(_search_url(fx), timeout=5).content
    fx.faults.add(
        "musicbrainz", "release-group", "slow-body", chunk=len(expected) // 4 + 1, interval=0.1
    )
    t0 = time.monotonic()
    r = http.get(_search_url(fx), timeout=5)
    assert time.monotonic() - t0 >= 0.3
    assert r.json()["count"] == 0 or r.json()["release-groups"]
    with pytest.raises(requests.Timeout):
        fx.faults.add("musicbrainz", "genre/all", "slow", delay=1.0)
        http.get(f"{fx.musicbrainz_url}/genre/all?fmt=json", timeout=0.3)


def test_drop(fx, http):
    fx.faults.add("musicbrainz", ".", "drop")
    with pytest.raises(requests.ConnectionError):
        http.get(_search_url(fx), timeout=5)
    assert fx.requests.snapshot()[-1].status is None
    assert http.get(_search_url(fx), timeout=5).status_code == 200


@pytest.mark.parametrize("chunked", [False, True])
def test_truncate_json(fx, http, chunked):
    fx.faults.add("musicbrainz", ".", "truncate-json", chunked=chunked)
    with pytest.raises(requests.RequestException):
        http.get(_search_url(fx), timeout=5).json()
    assert http.get(_search_url(fx), timeout=5).status_code == 200


def test_malformed_json_and_missing_fields(fx, http):
    fx.faults.add("musicbrainz", ".", "malformed-json")
    r = http.get(_search_url(fx), timeout=5)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    fx.faults.add("musicbrainz", ".", "missing-fields")
    items = http.get(_search_url(fx), timeout=5).json()["release-groups"]
    assert items and all("id" not in i and "tags" not in i and "title" in i for i in items)
    fx.faults.add("musicbrainz", ".", "missing-fields", fields=["title"])
    items = http.get(_search_url(fx), timeout=5).json()["release-groups"]
    assert all("title" not in i and "id" in i for i in items)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize(
    "kind", ["html-image", "json-image", "corrupt-jpeg", "truncated-jpeg", "bomb", "tiny-image"]
)
def test_image_faults(fx, http, cat, kind):
    fx.faults.add("archive", r"_thumb250\.jpg", kind)
    r = http.get(_front_url(fx, cat), timeout=10)
    assert r.status_code == 200
    data = r.content
    if kind == "html-image":
        assert r.headers["Content-Type"] == "image/jpeg" and data.lstrip().startswith(b"<!DOCTYPE")
    elif kind == "json-image":
        assert r.headers["Content-Type"] == "image/jpeg" and data.startswith(b"{")
    elif kind == "corrupt-jpeg":
        img = Image.open(io.BytesIO(data))
        assert img.size == (300, 300)
        with pytest.raises(OSError):
            img.load()
    elif kind == "truncated-jpeg":
        assert data[:2] == b"\xff\xd8" and not data.endswith(b"\xff\xd9")
        with pytest.raises(OSError):
            Image.open(io.BytesIO(data)).load()
    elif kind == "bomb":
        assert _png_size(data) == (30000, 30000) and len(data) < 200_000
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(data))
    else:
        assert Image.open(io.BytesIO(data)).size == (8, 8)
    # the fault was used up: the next fetch is the real cover
    assert Image.open(io.BytesIO(http.get(_front_url(fx, cat), timeout=10).content)).size == (
        250,
        250,
    )


def test_huge_image_streams_announced_length(fx, http, cat):
    fx.faults.add("archive", r"_thumb500\.jpg", "huge-image", size=20_000_000)
    with http.get(_front_url(fx, cat, 500), stream=True, timeout=10) as r:
        assert int(r.headers["Content-Length"]) == 20_000_000
        got = 0
        for block in r.iter_content(65536):
            got += len(block)
            if got > 1_000_000:
                break  # a client with a size cap hangs up here
    assert http.get(_search_url(fx), timeout=5).status_code == 200  # server still fine


@pytest.mark.parametrize("mode", ["self", "ping-pong"])
def test_redirect_loop(fx, http, cat, mode):
    fx.faults.add("coverart", r"/front", "redirect-loop", times=None, mode=mode)
    with pytest.raises(requests.TooManyRedirects):
        http.get(_front_url(fx, cat), timeout=10)
    fx.faults.clear()
    fx.faults.add("coverart", r"/front", "redirect-loop", times=2, mode=mode)
    r = http.get(_front_url(fx, cat), timeout=10)
    assert r.status_code == 200 and [h.status_code for h in r.history][:2] == [307, 307]


def test_not_found_fault_uses_service_error_page(fx, http, cat):
    fx.faults.add("coverart", ".", "not-found")
    r = http.get(_front_url(fx, cat), timeout=5)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in r.text


def test_bad_art_catalogue(http):
    cat = FakeCatalogue.generate(["rap", "edm"], per_genre=40, seed=11, bad_art_rate=0.25)
    with FakeServices(cat) as fx:
        bad = fx.bad_art()
        kinds = Counter(bad.values())
        assert set(kinds) == set(BAD_ART_KINDS)
        assert max(kinds.values()) - min(kinds.values()) <= 1  # dealt round-robin
        by_kind = {k: rid for rid, k in sorted(bad.items())}
        for kind, rid in by_kind.items():
            r = http.get(f"{fx.coverart_url}/release/{rid}/front-500", timeout=10)
            if kind == "not-found":
                assert r.status_code == 404
            elif kind == "bomb":
                assert _png_size(r.content) == (30000, 30000)
            elif kind == "tiny-image":
                assert Image.open(io.BytesIO(r.content)).size == (8, 8)
            else:
                assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
                with pytest.raises(OSError):
                    Image.open(io.BytesIO(r.content)).load()
        good = next(
            r for r in cat.releases.values() if r.front and not r.bad_art and not r.darkened
        )
        ok = http.get(f"{fx.coverart_url}/release/{good.id}/front-500", timeout=10)
        assert Image.open(io.BytesIO(ok.content)).size == (500, 500)
