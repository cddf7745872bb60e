"""Filling a :class:`CatalogueRecords` deterministically: artists, release groups, releases,
duplicate covers, merged MBIDs and bad art. Kept apart from the data model so each stays small.
"""

from __future__ import annotations

import random
from typing import TypeVar

from sleeve.core.taxonomy import GenreDef, Taxonomy
from sleeve.fakes import names
from sleeve.fakes.records import (
    _COUNTRIES,
    _YEARS,
    VARIOUS_ARTISTS_ID,
    CatalogueRecords,
    CoverRef,
    Credit,
    DuplicateLink,
    FakeArtist,
    FakeRelease,
    FakeReleaseGroup,
    Tag,
    _barcode,
    _date,
    _tags_for,
    mbid,
)

_NEAR_VARIANTS = ("recompressed", "resized", "cropped")
# build() fills and returns the catalogue it is given (FakeCatalogue, the records plus queries)
C = TypeVar("C", bound=CatalogueRecords)


def _genre_def(tax: Taxonomy, genre: str) -> GenreDef:
    if genre in tax:
        return tax.get(genre)
    return GenreDef(name=genre, aliases=[genre], core=[genre.replace("_", " ")])


def _artists(cat: CatalogueRecords, g: GenreDef, n_albums: int, rng: random.Random) -> list:
    """About one artist per three albums; see _pick_artist for who gets how many."""
    out = []
    for k in range(max(1, round(n_albums / 3))):
        name = names.artist_name(g.name, rng)
        core = [t for t in (g.core or [g.name]) if rng.random() < 0.8] or [
            g.core[0] if g.core else g.name
        ]
        tags = [Tag(t, rng.randint(1, 12)) for t in core]
        tags += [Tag(t, rng.randint(1, 5)) for t in rng.sample(g.sub, min(len(g.sub), 2))]
        spotify = list(dict.fromkeys([*g.spotify_search[:2], *[t.name for t in tags[1:3]]]))
        a = FakeArtist(
            id=mbid(cat.seed, "artist", g.name, k),
            name=name,
            sort_name=names.sort_name(name),
            genre=g.name,
            type=rng.choice(
                (
                    "Person",
                    "Group",
                    "Group",
                    "Person",
                    "Orchestra" if g.name == "classical" else "Group",
                )
            ),
            country=rng.choice((*_COUNTRIES, None)),
            tags=tags,
            spotify_genres=[s.lower() for s in spotify] or [g.name.replace("_", " ")],
        )
        cat.artists[a.id] = a
        out.append(a)
    return out


def _various(cat: CatalogueRecords) -> FakeArtist:
    if VARIOUS_ARTISTS_ID not in cat.artists:
        cat.artists[VARIOUS_ARTISTS_ID] = FakeArtist(
            VARIOUS_ARTISTS_ID,
            "Various Artists",
            "Various Artists",
            "",
            "Other",
            None,
            [],
            [],
            disambiguation="add compilations to this artist",
        )
    return cat.artists[VARIOUS_ARTISTS_ID]


def _title(g: GenreDef, serial: int, rng: random.Random) -> str:
    """Mostly ordinary titles; the 4th and 8th album overall get a path-traversal and a
    2,000-character title, and ~3 % get one of names.ODD_TITLES."""
    if serial == 3:
        return names.ODD_TITLES[0]
    if serial == 7:
        return names.long_title(rng)
    if rng.random() < 0.03:
        return rng.choice(names.ODD_TITLES)
    return names.album_title(g.name, rng)


def build(
    cat: C,
    spec: dict[str, int],
    tax: Taxonomy,
    bad_art_rate: float,
    bad_art_kinds: tuple[str, ...],
    duplicate_rate: float,
    near_duplicate_rate: float,
) -> C:
    rng = random.Random(f"sleeve-catalogue\x00{cat.seed}")
    defs = {g: _genre_def(tax, g) for g in spec}
    for gd in tax.genres:
        d = tax.get(gd)
        cat.genre_names.update(t for t in (*d.core, *d.sub, *d.weak) if t not in names.NOT_GENRES)
    cat.genre_names.update(names.EXTRA_GENRES)
    for d in defs.values():
        cat.genre_names.update(t for t in d.core if t not in names.NOT_GENRES)

    serial = 0
    for genre, n in spec.items():
        g = defs[genre]
        others = [d for k, d in defs.items() if k != genre]
        artists = _artists(cat, g, n, rng)
        # Two prolific artists carry a large share of each genre's albums.
        weights = [10.0, 6.0][: len(artists)] + [1.0] * max(0, len(artists) - 2)
        lo, hi = _YEARS.get(genre, (1970, 2024))
        for i in range(n):
            compilation = rng.random() < 0.05
            if compilation:
                credits = [Credit(_various(cat).id, "Various Artists")]
            else:
                main = rng.choices(artists, weights)[0]
                credits = [Credit(main.id, main.name)]
                if rng.random() < 0.06 and len(artists) > 1:
                    feat = rng.choice([a for a in artists if a.id != main.id])
                    credits = [Credit(main.id, main.name, " feat. "), Credit(feat.id, feat.name)]
            year = rng.randint(lo, hi)
            secondary = ["Compilation"] if compilation else []
            if genre == "anime" and rng.random() < 0.5:
                secondary.append("Soundtrack")
            elif rng.random() < 0.04:
                secondary.append("Live")
            rg = FakeReleaseGroup(
                id=mbid(cat.seed, "rg", genre, i),
                title=_title(g, serial, rng),
                genre=genre,
                credits=credits,
                primary_type=rng.choices(("Album", "EP", "Single"), (0.86, 0.08, 0.06))[0],
                secondary_types=secondary,
                first_release_date=_date(rng, year),
                tags=_tags_for(g, rng, others),
            )
            serial += 1
            cat.release_groups[rg.id] = rg
            for k in range(rng.choices((1, 2, 3), (0.72, 0.22, 0.06))[0]):
                _add_release(cat, rg, k, year, rng)
    _duplicates(cat, rng, duplicate_rate, near_duplicate_rate)
    _merges(cat, rng)
    _bad_art(cat, rng, bad_art_rate, bad_art_kinds)
    return cat


def _add_release(
    cat: CatalogueRecords, rg: FakeReleaseGroup, k: int, year: int, rng: random.Random
) -> None:
    rid = mbid(cat.seed, "release", rg.id, k)
    r = rng.random()
    barcode = _barcode(rng) if r < 0.85 else ("" if r < 0.9 else None)
    date = rg.first_release_date if k == 0 else _date(rng, min(2025, year + rng.randint(1, 20)))
    front: CoverRef | None = None
    back: CoverRef | None = None
    cover_seed = int(mbid(cat.seed, "cover", rid)[:8], 16)
    art = rng.random()
    if k == 0 and art >= 0.07:
        front = CoverRef(rg.genre, cover_seed)
    elif k > 0 and art < 0.5:  # a re-issue: another upload of the group's cover
        first = cat.releases[rg.release_ids[0]]
        if first.front is not None:
            front = CoverRef(first.front.genre, first.front.seed, "recompressed")
            cat.duplicates.append(DuplicateLink(rid, first.id, "near", True))
    if front is not None and rng.random() < 0.2:
        back = CoverRef(rg.genre, cover_seed, "back")
    elif front is None and k == 0 and art < 0.015:
        back = CoverRef(rg.genre, cover_seed, "back")  # art, but no front image
    tags = [t for t in rg.tags if rng.random() < 0.3] if rng.random() < 0.3 else []
    rel = FakeRelease(
        id=rid,
        title=rg.title,
        release_group_id=rg.id,
        date=date,
        country=rng.choice(_COUNTRIES) if date else None,
        barcode=barcode,
        status=rng.choices(("Official", "Promotion", "Bootleg"), (0.92, 0.04, 0.04))[0],
        packaging=rng.choice(("Jewel Case", "Digipak", "Cardboard/Paper Sleeve", None)),
        track_count=rng.randint(4, 16) if rg.primary_type == "Album" else rng.randint(1, 6),
        tags=tags,
        front=front,
        back=back,
        image_id=10_000_000_000 + int(mbid(cat.seed, "img", rid)[:7], 16) * 2,
        darkened=front is not None and rng.random() < 0.01,
        legacy_index=rng.random() < 0.15,
        octet_index=rng.random() < 0.3,
        second_hop=rng.random() < 0.5,
    )
    cat.releases[rid] = rel
    rg.release_ids.append(rid)


def _duplicates(cat: CatalogueRecords, rng: random.Random, identical: float, near: float) -> None:
    """Give ~``identical`` of the albums another album's cover byte-for-byte and ~``near`` a
    re-encoded/resized/cropped copy of one (same genre: reissues, compilations, bootlegs)."""
    originals: dict[str, list[FakeRelease]] = {}
    for rg in cat.release_groups.values():
        rel = cat.releases[rg.release_ids[0]]
        if rel.front is None:
            continue
        pool = originals.setdefault(rg.genre, [])
        r = rng.random()
        if pool and r < identical + near:
            src = rng.choice(pool)
            if r < identical:
                rel.front = src.front
                cat.duplicates.append(DuplicateLink(rel.id, src.id, "identical", False))
            else:
                assert src.front is not None
                rel.front = CoverRef(src.front.genre, src.front.seed, rng.choice(_NEAR_VARIANTS))
                cat.duplicates.append(DuplicateLink(rel.id, src.id, "near", False))
            assert rel.front is not None  # taken from a pooled album, which has a front
            for link in [d for d in cat.duplicates if d.source_release_id == rel.id]:
                # a re-issue of this album follows its (now borrowed) cover
                other = cat.releases[link.release_id]
                other.front = CoverRef(rel.front.genre, rel.front.seed, "recompressed")
        else:
            pool.append(rel)


def _merges(cat: CatalogueRecords, rng: random.Random) -> None:
    """About 2 % of release groups and releases also answer to an old, merged-away MBID."""
    for kind, items in (("rg", list(cat.release_groups)), ("release", list(cat.releases))):
        for n, current in enumerate(items):
            if n == 0 or rng.random() < 0.02:
                cat.merged[mbid(cat.seed, "merged", kind, current)] = current


def _bad_art(
    cat: CatalogueRecords, rng: random.Random, rate: float, kinds: tuple[str, ...]
) -> None:
    """Mark ``rate`` of the releases with art as broken, kinds dealt round-robin (shuffled once)
    so every kind shows up once enough releases are chosen."""
    if rate <= 0 or not kinds:
        return
    order = list(kinds)
    rng.shuffle(order)
    dealt = 0
    for rel in cat.releases.values():
        if rel.front is not None and not rel.darkened and rng.random() < rate:
            rel.bad_art = order[dealt % len(order)]
            dealt += 1
