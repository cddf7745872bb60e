"""Generated catalogue, cover drawing and the Lucene-subset evaluator of the fakes."""

from __future__ import annotations

import io
import re
import threading
import time
from collections import Counter

import numpy as np
import pytest
import requests
from PIL import Image

from sleeve.fakes import FakeCatalogue, cover_jpeg, draw_cover, render_cover
from sleeve.fakes.__main__ import serve_forever
from sleeve.fakes.covers import STYLES
from sleeve.fakes.lucene import QuerySyntaxError, parse

GENRES = [
    "anime",
    "black_metal",
    "classical",
    "country",
    "disco",
    "edm",
    "jazz",
    "pop",
    "rap",
    "reggae",
]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def cat() -> FakeCatalogue:
    return FakeCatalogue.generate(GENRES, per_genre=60, seed=0)


# -- covers -------------------------------------------------------------------------------------
def test_covers_deterministic_and_sized():
    assert cover_jpeg("jazz", 7) == cover_jpeg("jazz", 7)
    assert cover_jpeg("jazz", 7) != cover_jpeg("jazz", 8)
    img = Image.open(io.BytesIO(cover_jpeg("rap", 1, size=123)))
    assert img.format == "JPEG" and img.size == (123, 123)
    assert draw_cover("electronic", 3).size == (300, 300)  # unknown genre: hashed style
    assert cover_jpeg("rock", 3) == cover_jpeg("rock", 3)


def test_cover_variants_are_near_not_identical():
    orig = np.asarray(Image.open(io.BytesIO(render_cover("pop", 5, "original", 300))), float)
    for variant in ("recompressed", "resized", "cropped"):
        data = render_cover("pop", 5, variant, 300)
        assert data != render_cover("pop", 5, "original", 300)
        other = np.asarray(Image.open(io.BytesIO(data)), float)
        assert other.shape == orig.shape
        assert np.abs(other - orig).mean() < 40  # same picture, roughly
    with pytest.raises(ValueError):
        render_cover("pop", 5, "sepia", 300)


def test_genres_differ_visibly():
    """Mean colour per genre over a few covers separates most genre pairs."""
    means = {
        g: np.mean(
            [np.asarray(draw_cover(g, s, 48), float).mean((0, 1)) for s in range(12)], axis=0
        )
        for g in STYLES
    }
    close = [
        (a, b) for a in means for b in means if a < b and np.abs(means[a] - means[b]).max() < 12
    ]
    assert len(close) <= 6, close
    # black metal is dark and grey; anime is bright
    assert means["black_metal"].mean() < 80 < means["anime"].mean()


def test_cover_speed():
    t0 = time.perf_counter()
    for s in range(40):
        cover_jpeg("disco", s)
    assert (time.perf_counter() - t0) / 40 < 0.02  # budget 5 ms; generous for loaded CI


# -- catalogue ----------------------------------------------------------------------------------
def test_catalogue_deterministic(cat):
    again = FakeCatalogue.generate(GENRES, per_genre=60, seed=0)
    assert list(again.release_groups) == list(cat.release_groups)
    assert [r.front for r in again.releases.values()] == [r.front for r in cat.releases.values()]
    other = FakeCatalogue.generate(GENRES, per_genre=60, seed=1)
    assert not set(other.release_groups) & set(cat.release_groups)


def test_catalogue_contents(cat):
    assert len(cat.release_groups) == 600
    assert Counter(rg.genre for rg in cat.release_groups.values()) == dict.fromkeys(GENRES, 60)
    ids = [*cat.artists, *cat.release_groups, *cat.releases]
    assert all(UUID.match(i) for i in ids) and len(set(ids)) == len(ids)
    titles = [rg.title for rg in cat.release_groups.values()]
    assert any("../" in t for t in titles) and any(len(t) == 2000 for t in titles)
    assert any(not t.isascii() for t in titles)
    dates = Counter(len(rg.first_release_date) for rg in cat.release_groups.values())
    assert {4, 7, 10} <= set(dates)
    with_barcode = sum(bool(r.barcode) for r in cat.releases.values())
    assert 0.75 < with_barcode / len(cat.releases) < 0.95
    per_artist = Counter(rg.credits[0].artist_id for rg in cat.release_groups.values())
    assert sum(n >= 8 for n in per_artist.values()) >= 5  # prolific artists
    tags = Counter(t.name for rg in cat.release_groups.values() for t in rg.tags)
    assert tags["seen live"] > 0 and tags["hip hop"] > 0
    assert any(t in tags for t in ("pop rap", "jazz rap", "country rap"))


def test_duplicate_covers_recorded(cat):
    across = [d for d in cat.duplicates if not d.same_group]
    identical = [d for d in across if d.kind == "identical"]
    near = [d for d in across if d.kind == "near"]
    assert 0.02 < len(identical) / 600 < 0.08 and 0.02 < len(near) / 600 < 0.08
    for d in identical:
        a, b = cat.releases[d.release_id], cat.releases[d.source_release_id]
        assert a.front.jpeg(250) == b.front.jpeg(250)
    for d in near[:5]:
        a, b = cat.releases[d.release_id], cat.releases[d.source_release_id]
        assert (a.front.genre, a.front.seed) == (b.front.genre, b.front.seed)
        assert a.front.variant != "original" and a.front.jpeg(250) != b.front.jpeg(250)


def test_album_summaries_for_other_sources(cat):
    albums = cat.albums()
    assert len(albums) == 600
    a = next(x for x in albums if x.cover is not None and x.upc)
    assert a.artist_names and a.genre in GENRES and len(a.upc) == 13
    assert a.year is None or 1950 < a.year < 2030
    assert {x.album_type for x in albums} >= {"album", "compilation"}


# -- search -------------------------------------------------------------------------------------
def test_lucene_subset():
    doc = {
        "tag": {"hip hop": 3.0, "pop rap": 1.0},
        "primarytype": {"album": 0.0},
        "secondarytype": {"live": 0.0},
    }
    assert parse('tag:"Hip-Hop" AND primarytype:ALBUM').score(doc) == 3.0
    assert parse("tag:rap").score(doc) is None  # whole-tag match only
    assert parse("tag:(hip hop)").score(doc) is None  # OR of tag:hip, tag:hop
    assert parse('tag:"pop rap" OR tag:jazz').score(doc) == 1.0
    assert parse('tag:"hip hop" AND NOT secondarytype:live').score(doc) is None
    assert parse('tag:"hip hop" -secondarytype:live').score(doc) is None
    assert parse('(tag:jazz OR tag:"hip hop") && !secondarytype:compilation').score(doc) == 3.0
    assert parse(r"tag:hip\-hop").score(doc) == 3.0
    for bad in ['tag:"open', "(tag:x", "tag:", "AND"]:
        with pytest.raises(QuerySyntaxError):
            parse(bad)


def test_catalogue_search_uses_taxonomy_queries(cat):
    from sleeve.core.taxonomy import Taxonomy

    tax = Taxonomy.load()
    for genre in GENRES:
        hits = cat.search("release-group", f"({tax.get(genre).mb_query}) AND primarytype:album")
        share = Counter(cat.release_groups[h].genre for h, _ in hits)
        assert share[genre] >= 30, (genre, share)  # most of the genre is findable
        assert share[genre] / sum(share.values()) > 0.8  # and little else


# -- runnable entry ------------------------------------------------------------------------------
def test_serve_forever_prints_exports_and_serves():
    out = io.StringIO()
    stop = threading.Event()
    seen: dict[str, str] = {}

    def ready(fx) -> None:
        seen.update(fx.env())
        r = requests.get(
            f"{fx.musicbrainz_url}/genre/all?fmt=json",
            headers={"User-Agent": "t/1 ( t@example.org )"},
            timeout=5,
        )
        seen["status"] = str(r.status_code)
        stop.set()

    assert serve_forever(["rap"], per_genre=5, out=out, ready=ready, stop=stop) == 0
    text = out.getvalue()
    assert f"export MUSICBRAINZ_URL={seen['MUSICBRAINZ_URL']}" in text
    assert f"export COVERART_URL={seen['COVERART_URL']}" in text
    assert seen["status"] == "200"
