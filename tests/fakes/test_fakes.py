"""The fake MusicBrainz / Cover Art Archive / archive hosts speak the documented wire shapes."""

from __future__ import annotations

import io
import re
import time

import pytest
import requests
from PIL import Image

from sleeve.fakes import FakeCatalogue, FakeServices

UA = {"User-Agent": "sleeve-tests/0.1 ( tests@example.org )"}
HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
RAP_QUERY = '(tag:"hip hop" OR tag:rap OR tag:"hip-hop") AND primarytype:album'


@pytest.fixture(scope="module")
def cat() -> FakeCatalogue:
    return FakeCatalogue.generate(["rap", "jazz", "black_metal"], per_genre=40, seed=3)


@pytest.fixture(scope="module")
def fx(cat: FakeCatalogue):
    with FakeServices(cat) as services:
        yield services


@pytest.fixture()
def http() -> requests.Session:
    s = requests.Session()
    s.headers.update(UA)
    return s


def mb(http: requests.Session, fx: FakeServices, path: str, **params: object):
    return http.get(f"{fx.musicbrainz_url}{path}", params={"fmt": "json", **params}, timeout=10)


# -- MusicBrainz: search --------------------------------------------------------------------------
def test_search_shape_scores_and_paging(http, fx, cat):
    r = mb(http, fx, "/release-group/", query=RAP_QUERY, limit=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"created", "count", "offset", "release-groups"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["created"])
    items = body["release-groups"]
    assert len(items) == 10 and body["count"] > 10 and body["offset"] == 0
    assert items[0]["score"] == 100
    assert all(isinstance(i["score"], int) and 0 < i["score"] <= 100 for i in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    for item in items:
        assert cat.release_groups[item["id"]].genre == "rap"
        assert item["primary-type"] == "Album" and "genres" not in item
        assert item["tags"] == sorted(item["tags"], key=lambda t: t["name"])
        assert {"name", "artist"} <= set(item["artist-credit"][0])
        assert {"id", "title", "status", "status-id"} == set(item["releases"][0])
    page2 = mb(http, fx, "/release-group", query=RAP_QUERY, limit=10, offset=10).json()
    assert page2["offset"] == 10
    assert not {i["id"] for i in items} & {i["id"] for i in page2["release-groups"]}


@pytest.mark.parametrize(("limit", "expected"), [(0, 25), (101, 25), (-3, 25), (100, 100), (7, 7)])
def test_search_limit_clamp(http, fx, limit, expected):
    body = mb(http, fx, "/release-group", query="*:*", limit=limit).json()
    assert body["count"] > 100
    assert len(body["release-groups"]) == expected


def test_search_boolean_and_release_entity(http, fx, cat):
    body = mb(
        http, fx, "/release-group", query="tag:jazz AND NOT secondarytype:compilation", limit=100
    ).json()
    assert body["release-groups"]
    for item in body["release-groups"]:
        assert "Compilation" not in cat.release_groups[item["id"]].secondary_types
    rel = mb(http, fx, "/release", query='tag:jazz OR tag:rap OR tag:"black metal"').json()
    assert set(rel) == {"created", "count", "offset", "releases"}
    assert all("cover-art-archive" not in i for i in rel["releases"])


def test_blank_query_and_syntax_error(http, fx):
    r = mb(http, fx, "/release-group", query="  ")
    assert r.status_code == 400
    assert r.json() == {"error": r.json()["error"], "help": HELP}
    assert "blank search query" in r.json()["error"]
    r = mb(http, fx, "/release-group", query='tag:"unclosed AND (')
    assert r.status_code == 400 and "error" in r.json()


# -- MusicBrainz: lookups, browse, errors ---------------------------------------------------------
def _some_tagged_group(cat: FakeCatalogue):
    return next(
        rg
        for rg in cat.release_groups.values()
        if len([t for t in rg.tags if cat.is_genre(t.name)]) >= 2
    )


def test_release_group_lookup_includes(http, fx, cat):
    rg = _some_tagged_group(cat)
    r = mb(http, fx, f"/release-group/{rg.id}", inc="genres+tags+artist-credits+releases")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == rg.id and body["title"] == rg.title
    names = [g["name"] for g in body["genres"]]
    assert names == sorted(names) and len(names) >= 2
    assert all(set(g) == {"count", "disambiguation", "id", "name"} for g in body["genres"])
    assert [t["name"] for t in body["tags"]] == sorted(t["name"] for t in body["tags"])
    assert {t["name"] for t in body["tags"]} >= set(names)
    assert [x["id"] for x in body["releases"]] == rg.release_ids
    credit = body["artist-credit"][0]["artist"]
    assert "tags" in credit and "genres" in credit  # credited artists carry theirs too
    credit = mb(http, fx, f"/release-group/{rg.id}", inc="artist-credits").json()
    assert "tags" not in credit["artist-credit"][0]["artist"]  # not requested: absent
    bare = mb(http, fx, f"/release-group/{rg.id}").json()
    assert "tags" not in bare and "genres" not in bare and "releases" not in bare


def test_release_lookup_with_release_group_and_artist_genres(http, fx, cat):
    rel = next(r for r in cat.releases.values() if r.front is not None)
    body = mb(
        http, fx, f"/release/{rel.id}", inc="release-groups genres tags artist-credits"
    ).json()
    assert body["cover-art-archive"] == {
        "artwork": True,
        "count": 1 + (rel.back is not None),
        "front": True,
        "back": rel.back is not None,
        "darkened": False,
    }
    assert body["release-group"]["id"] == rel.release_group_id
    assert "genres" in body["release-group"] and "tags" in body
    artist = body["artist-credit"][0]["artist"]
    assert "genres" in artist and "tags" in artist
    assert body["barcode"] == rel.barcode


def test_browse_releases_of_group_and_groups_of_artist(http, fx, cat):
    rg = next(g for g in cat.release_groups.values() if len(g.release_ids) > 1)
    body = mb(http, fx, "/release", **{"release-group": rg.id, "inc": "genres"}).json()
    assert body["release-count"] == len(rg.release_ids) and body["release-offset"] == 0
    assert [r["id"] for r in body["releases"]] == rg.release_ids
    assert all("cover-art-archive" in r for r in body["releases"])
    prolific = max(
        cat.artists.values(),
        key=lambda a: sum(a.id == g.credits[0].artist_id for g in cat.release_groups.values()),
    )
    body = mb(http, fx, "/release-group", artist=prolific.id, limit=500).json()
    assert body["release-group-count"] >= 5  # some artists have many albums
    assert len(body["release-groups"]) == min(100, body["release-group-count"])


def test_genre_list_sorted(http, fx):
    body = mb(http, fx, "/genre/all", limit=100).json()
    names = [g["name"] for g in body["genres"]]
    assert names == sorted(names) and body["genre-count"] > len(names) // 2
    assert "rap" not in names  # a plain tag in MB, not a genre


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/release-group/not-an-mbid", {}, 400, "Invalid mbid."),
        ("/release-group/00000000-0000-4000-8000-000000000000", {}, 404, "Not Found"),
        ("/release/00000000-0000-4000-8000-000000000000", {"inc": "media"}, 404, "Not Found"),
        (
            "/release-group/{rg}",
            {"inc": "media"},
            400,
            "media is not a valid inc parameter for the release-group resource.",
        ),
        (
            "/release-group/{rg}",
            {"inc": "user-tags"},
            401,
            "You are not authorized to access this resource.",
        ),
    ],
)
def test_error_bodies(http, fx, cat, path, params, status, message):
    rg = next(iter(cat.release_groups))
    r = mb(http, fx, path.format(rg=rg), **params)
    assert r.status_code == status
    assert r.json() == {"error": message, "help": HELP}


def test_repeated_inc_and_xml_rejected(http, fx, cat):
    rg = next(iter(cat.release_groups))
    r = http.get(f"{fx.musicbrainz_url}/release-group/{rg}?inc=tags&inc=genres&fmt=json")
    assert r.status_code == 400 and "combined with a space" in r.json()["error"]
    r = http.get(f"{fx.musicbrainz_url}/release-group/{rg}")  # no fmt, no Accept: XML wanted
    assert r.status_code == 406 and r.text.startswith("<?xml")
    r = http.get(f"{fx.musicbrainz_url}/release-group/{rg}", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["id"] == rg


def test_merged_mbid_redirects_301(http, fx, cat):
    old, new = next(iter(cat.merged.items()))
    entity = "release-group" if new in cat.release_groups else "release"
    r = mb(http, fx, f"/{entity}/{old}", inc="tags")
    assert r.status_code == 200 and r.json()["id"] == new
    assert [h.status_code for h in r.history] == [301]
    assert r.history[0].headers["Location"].endswith(f"/ws/2/{entity}/{new}?fmt=json&inc=tags")
    assert r.history[0].json()["id"] == new  # the 301 still renders the entity


# -- User-Agent and rate limiting -----------------------------------------------------------------
@pytest.mark.parametrize("ua", ["", "python-requests/2.32.0", "justaname"])
def test_user_agent_required(fx, ua):
    r = requests.get(
        f"{fx.musicbrainz_url}/genre/all",
        params={"fmt": "json"},
        headers={"User-Agent": ua},
        timeout=10,
    )
    assert r.status_code == 403
    assert set(r.json()) == {"error", "help"}


def test_blocked_user_agent_connection_dropped(cat):
    with FakeServices(cat, ua_policy="drop") as fx:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{fx.musicbrainz_url}/genre/all?fmt=json", timeout=5)
        assert fx.requests.snapshot()[-1].status is None
        ok = requests.get(f"{fx.musicbrainz_url}/genre/all?fmt=json", headers=UA, timeout=5)
        assert ok.status_code == 200


def test_rate_enforcement_503_retry_after_zero(cat):
    with FakeServices(cat, enforce_rate=2.0) as fx:  # 1 request per 0.5 s
        s = requests.Session()
        s.headers.update(UA)
        url = f"{fx.musicbrainz_url}/genre/all?fmt=json"
        assert s.get(url, timeout=5).status_code == 200
        r = s.get(url, timeout=5)
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "0"
        assert "exceeding the allowable rate limit" in r.json()["error"]
        time.sleep(0.5)  # measured from the last *accepted* request, 20 ms tolerance
        assert s.get(url, timeout=5).status_code == 200
        statuses = [rec.status for rec in fx.requests.for_service("musicbrainz")]
        assert statuses == [200, 503, 200]


def test_latency_knob_is_concurrent(cat):
    with FakeServices(cat, mb_latency=0.3) as fx:
        from concurrent.futures import ThreadPoolExecutor

        url = f"{fx.musicbrainz_url}/genre/all?fmt=json"
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(lambda _: requests.get(url, headers=UA, timeout=5).status_code, range(8))
            )
        elapsed = time.monotonic() - t0
        assert codes == [200] * 8
        assert 0.3 <= elapsed < 1.5  # served in parallel, not 8 x 0.3 s


# -- Cover Art Archive and archive host -----------------------------------------------------------
def test_caa_redirect_chain_to_jpeg(http, fx, cat):
    rel = next(
        r for r in cat.releases.values() if r.front is not None and r.second_hop and not r.darkened
    )
    r = http.get(f"{fx.coverart_url}/release/{rel.id}/front-250", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert [h.status_code for h in r.history] == [307, 302]
    first = r.history[0]
    assert first.headers["Content-Type"].startswith("text/plain")
    assert first.text == f"See: {first.headers['Location']}\n"
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    assert first.headers["Location"].startswith(fx.archive_url)
    assert Image.open(io.BytesIO(r.content)).size == (250, 250)
    assert r.content == rel.front.jpeg(250)
    original = http.get(f"{fx.coverart_url}/release/{rel.id}/front.jpg", timeout=10)
    assert Image.open(io.BytesIO(original.content)).size == (600, 600)


def test_caa_release_group_front_uses_chosen_release(http, fx, cat):
    rg_id = next(g for g in cat.release_groups if cat.cover_release(g) is not None)
    chosen = cat.cover_release(rg_id)
    r = http.get(f"{fx.coverart_url}/release-group/{rg_id}/front-500", timeout=10)
    assert r.status_code == 200 and r.content == chosen.front.jpeg(500)
    idx = http.get(f"{fx.coverart_url}/release-group/{rg_id}/", timeout=10)
    assert idx.json()["release"].endswith(f"/release/{chosen.id}")
    back = http.get(f"{fx.coverart_url}/release-group/{rg_id}/back", timeout=10)
    assert back.status_code == 400 and "not supported for release groups" in back.text


def test_caa_index_shapes_current_and_legacy(http, fx, cat):
    current = next(
        r
        for r in cat.releases.values()
        if r.front and not r.legacy_index and not r.darkened and r.octet_index
    )
    r = http.get(f"{fx.coverart_url}/release/{current.id}", timeout=10)
    assert r.headers["Content-Type"] == "application/octet-stream"
    img = r.json()["images"][0]  # parse by content, not by Content-Type
    assert isinstance(img["id"], int) and img["front"] is True and img["types"] == ["Front"]
    assert set(img["thumbnails"]) == {"250", "500", "1200", "small", "large"}
    assert r.json()["release"] == f"https://musicbrainz.org/release/{current.id}"
    thumb = http.get(img["thumbnails"]["1200"], timeout=10)
    assert Image.open(io.BytesIO(thumb.content)).size == (1200, 1200)

    legacy = next(r for r in cat.releases.values() if r.front and r.legacy_index and not r.darkened)
    body = http.get(f"{fx.coverart_url}/release/{legacy.id}/", timeout=10).json()
    img = body["images"][0]
    assert isinstance(img["id"], str) and "1200" not in img["thumbnails"]
    assert body["release"].startswith("http://musicbrainz.org/release/")
    assert http.get(img["thumbnails"]["large"], timeout=10).status_code == 200


def test_caa_errors(http, fx, cat):
    rel = next(r for r in cat.releases.values() if r.front is not None and not r.darkened)
    r = http.get(f"{fx.coverart_url}/release/{rel.id.upper()}/front", timeout=10)
    assert r.status_code == 400 and "invalid MBID specified" in r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    no_art = next(r for r in cat.releases.values() if not r.has_art)
    r = http.get(f"{fx.coverart_url}/release/{no_art.id}/front-500", timeout=10)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    assert f"No cover art found for release {no_art.id}" in r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = http.get(f"{fx.coverart_url}/artist/{rel.id}", timeout=10)
    assert r.status_code == 400 and "Only the following entities" in r.text
    old = next(o for o, n in cat.merged.items() if n in cat.releases and cat.releases[n].has_art)
    r = http.get(f"{fx.coverart_url}/release/{old}", allow_redirects=False, timeout=10)
    assert r.status_code == 307 and f"mbid-{cat.merged[old]}" in r.headers["Location"]


def test_env_and_request_log(fx):
    env = fx.env()
    assert env == {"MUSICBRAINZ_URL": fx.musicbrainz_url, "COVERART_URL": fx.coverart_url}
    assert re.match(r"^http://127\.0\.0\.1:\d+/ws/2$", env["MUSICBRAINZ_URL"])
    rec = fx.requests.snapshot()[-1]
    assert rec.service in {"musicbrainz", "coverart", "archive"} and rec.method == "GET"
    assert isinstance(rec.time, float) and isinstance(rec.headers, dict)
