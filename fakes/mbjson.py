"""MusicBrainz WS/2 JSON shapes for catalogue objects (lookup, browse and search flavours).

Mirrors the server's JSON serializer as documented in shared/docs/musicbrainz.md: ``tags`` and
``genres`` sorted by name with only positive counts, keys present (possibly empty) when their
include was requested and absent otherwise; search items carry ``tags`` only (never
``genres``), omit empty keys, and never carry ``cover-art-archive``.
"""

from __future__ import annotations

from typing import Any

from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.records import (
    Credit,
    FakeArtist,
    FakeRelease,
    FakeReleaseGroup,
    Tag,
    mbid,
)

JSON = dict[str, Any]

PRIMARY_TYPE_IDS = {
    "Album": "f529b476-6e62-324f-b0aa-1f3e33d313fc",
    "Single": "d6038452-8ee0-3f68-affc-2de9a1ede0b9",
    "EP": "6d0c5bf6-7a33-3420-a519-44fc63eedebf",
}
SECONDARY_TYPE_IDS = {
    "Compilation": "dd2a21e1-0c00-3729-a7a0-de60b84eb5d1",
    "Soundtrack": "22a628ad-c082-3c4f-b1b6-d41665107b88",
    "Live": "6fd474e2-6b58-3102-9f1e-4bfa6ef4e9e6",
}
STATUS_IDS = {
    "Official": "4e304316-386d-3409-af2e-78857eec5cfe",
    "Promotion": "518ffc83-5cde-34df-8627-81bff5093d92",
    "Bootleg": "1156806e-d06a-38bd-83f0-cf2284a808b9",
}
ARTIST_TYPE_IDS = {
    "Person": "b6e035f4-3ce9-331c-97df-83397230b0df",
    "Group": "e431f5f6-b5d2-343d-8b36-72607fffb74b",
    "Orchestra": "a0b36c92-3eb1-3839-a4f9-4799823f54a5",
    "Other": "ac897045-5043-3294-accb-c1c4a2d1e7dd",
}


def tags_json(tags: list[Tag]) -> list[JSON]:
    return [
        {"count": t.count, "name": t.name}
        for t in sorted(tags, key=lambda t: t.name)
        if t.count > 0
    ]


def genres_json(cat: FakeCatalogue, tags: list[Tag]) -> list[JSON]:
    return [
        {"count": t.count, "disambiguation": "", "id": cat.genre_id(t.name), "name": t.name}
        for t in sorted(tags, key=lambda t: t.name)
        if t.count > 0 and cat.is_genre(t.name)
    ]


def _tag_keys(cat: FakeCatalogue, out: JSON, tags: list[Tag], incs: set[str]) -> JSON:
    if "tags" in incs:
        out["tags"] = tags_json(tags)
    if "genres" in incs:
        out["genres"] = genres_json(cat, tags)
    return out


def artist_json(cat: FakeCatalogue, a: FakeArtist, incs: set[str], search: bool = False) -> JSON:
    if search:
        out: JSON = {"id": a.id, "name": a.name, "sort-name": a.sort_name}
        if a.disambiguation:
            out["disambiguation"] = a.disambiguation
        return out
    out = {
        "id": a.id,
        "name": a.name,
        "sort-name": a.sort_name,
        "disambiguation": a.disambiguation,
        "type": a.type,
        "type-id": ARTIST_TYPE_IDS.get(a.type),
        "country": a.country,
    }
    return _tag_keys(cat, out, a.tags, incs)


def credits_json(
    cat: FakeCatalogue, credits: list[Credit], incs: set[str], search: bool = False
) -> list[JSON]:
    out = []
    for c in credits:
        nc: JSON = {
            "name": c.name,
            "artist": artist_json(cat, cat.artists[c.artist_id], incs, search),
        }
        if c.joinphrase or not search:
            nc["joinphrase"] = c.joinphrase
        out.append(nc)
    return out


def _types(rg: FakeReleaseGroup) -> JSON:
    return {
        "primary-type": rg.primary_type,
        "primary-type-id": PRIMARY_TYPE_IDS.get(rg.primary_type),
        "secondary-types": list(rg.secondary_types),
        "secondary-type-ids": [SECONDARY_TYPE_IDS.get(s) for s in rg.secondary_types],
    }


def release_group_json(cat: FakeCatalogue, rg: FakeReleaseGroup, incs: set[str]) -> JSON:
    """Release-group lookup/browse shape (doc §5.4, §6)."""
    out: JSON = {
        "id": rg.id,
        "title": rg.title,
        **_types(rg),
        "first-release-date": rg.first_release_date,
        "disambiguation": "",
    }
    if incs & {"artist-credits", "artists"}:
        out["artist-credit"] = credits_json(cat, rg.credits, incs & {"tags", "genres"})
    if "releases" in incs:
        out["releases"] = [release_json(cat, r, set()) for r in cat.iter_releases(rg.id)]
    return _tag_keys(cat, out, rg.tags, incs)


def release_group_search_json(cat: FakeCatalogue, rg: FakeReleaseGroup, score: int) -> JSON:
    """Release-group search item (doc §4.2): empty keys omitted, tags but no genres."""
    out: JSON = {
        "id": rg.id,
        "type-id": PRIMARY_TYPE_IDS.get(rg.primary_type),
        "score": score,
        "count": len(rg.release_ids),
        "title": rg.title,
    }
    if rg.first_release_date:
        out["first-release-date"] = rg.first_release_date
    types = _types(rg)
    out["primary-type"], out["primary-type-id"] = types["primary-type"], types["primary-type-id"]
    if rg.secondary_types:
        out["secondary-types"] = types["secondary-types"]
        out["secondary-type-ids"] = types["secondary-type-ids"]
    out["artist-credit"] = credits_json(cat, rg.credits, set(), search=True)
    out["artist-credit-id"] = _credit_id(rg.credits)
    out["releases"] = [
        {"id": r.id, "title": r.title, "status": r.status, "status-id": STATUS_IDS[r.status]}
        for r in cat.iter_releases(rg.id)
    ]
    if rg.tags:
        out["tags"] = tags_json(rg.tags)
    return out


def _credit_id(credits: list[Credit]) -> str:
    return mbid(-2, "credit", tuple(c.artist_id for c in credits))


def caa_block(rel: FakeRelease) -> JSON:
    count = (rel.front is not None) + (rel.back is not None)
    return {
        "artwork": count > 0,
        "count": count,
        "front": rel.front is not None,
        "back": rel.back is not None,
        "darkened": rel.darkened,
    }


def release_json(cat: FakeCatalogue, rel: FakeRelease, incs: set[str]) -> JSON:
    """Release lookup/browse shape (doc §5.3)."""
    out: JSON = {
        "id": rel.id,
        "title": rel.title,
        "status": rel.status,
        "status-id": STATUS_IDS[rel.status],
        "quality": "normal",
        "disambiguation": "",
        "packaging": rel.packaging,
        "packaging-id": None,
        "date": rel.date,
        "country": rel.country,
        "release-events": [{"date": rel.date, "area": None}] if rel.date else [],
        "barcode": rel.barcode,
        "asin": None,
        "text-representation": {"language": "eng", "script": "Latn"},
        "cover-art-archive": caa_block(rel),
    }
    if incs & {"artist-credits", "artists"}:
        out["artist-credit"] = credits_json(
            cat, cat.release_group_of(rel).credits, incs & {"tags", "genres"}
        )
    if "release-groups" in incs:
        rg_incs = (incs & {"tags", "genres"}) | ({"artist-credits"} & incs)
        rg = release_group_json(cat, cat.release_group_of(rel), rg_incs)
        for nc in rg.get("artist-credit", []):  # repeated credit: no tags/genres there
            nc["artist"].pop("tags", None)
            nc["artist"].pop("genres", None)
        out["release-group"] = rg
    if incs & {"media", "recordings", "discids"}:
        out["media"] = [
            {"position": 1, "format": "CD", "track-count": rel.track_count, "title": ""}
        ]
    return _tag_keys(cat, out, rel.tags, incs)


def release_search_json(cat: FakeCatalogue, rel: FakeRelease, score: int) -> JSON:
    """Release search item (doc §4.2): no cover-art-archive block, no genres."""
    rg = cat.release_group_of(rel)
    out: JSON = {
        "id": rel.id,
        "score": score,
        "status-id": STATUS_IDS[rel.status],
        "count": 1,
        "title": rel.title,
        "status": rel.status,
        "text-representation": {"language": "eng", "script": "Latn"},
        "artist-credit": credits_json(cat, rg.credits, set(), search=True),
        "release-group": {
            "id": rg.id,
            "type-id": PRIMARY_TYPE_IDS.get(rg.primary_type),
            "primary-type-id": PRIMARY_TYPE_IDS.get(rg.primary_type),
            "title": rg.title,
            "primary-type": rg.primary_type,
        },
        "track-count": rel.track_count,
        "media": [{"format": "CD", "disc-count": 0, "track-count": rel.track_count}],
    }
    if rel.packaging:
        out["packaging"] = rel.packaging
    if rel.date:
        out["date"] = rel.date
        out["release-events"] = [{"date": rel.date}]
    if rel.country:
        out["country"] = rel.country
    if rel.barcode:
        out["barcode"] = rel.barcode
    if rel.tags:
        out["tags"] = tags_json(rel.tags)
    return out


def genre_list_json(cat: FakeCatalogue, limit: int, offset: int) -> JSON:
    names = sorted(cat.genre_names)
    page = names[offset : offset + limit]
    return {
        "genre-count": len(names),
        "genre-offset": offset,
        "genres": [{"id": cat.genre_id(n), "name": n, "disambiguation": ""} for n in page],
    }
