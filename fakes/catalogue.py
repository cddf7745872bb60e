"""A generated music catalogue that the fake MusicBrainz / Cover Art Archive (and later a fake
Spotify) serve from.

Everything is a plain dataclass and deterministic in ``seed``. The catalogue models the things a
harvester has to cope with: prolific artists (so artist-grouped splits matter), compilations by
"Various Artists", featured credits, releases without barcodes or without art, odd titles,
tags that are noise or point at two genres, byte-identical and near-duplicate covers across
albums, merged (redirected) MBIDs, and optionally releases whose art is broken (``bad_art``).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from sleeve.core.taxonomy import GenreDef, Taxonomy
from sleeve.fakes import names
from sleeve.fakes.covers import render_cover
from sleeve.fakes.lucene import Doc, normalise, parse

VARIOUS_ARTISTS_ID = "89ad4ac3-39f7-470e-963a-56509c546377"  # MB's real "Various Artists"
# Kinds of persistent bad art (fault names of faults.py) a catalogue hands out round-robin.
BAD_ART_KINDS = (
    "html-image",
    "json-image",
    "corrupt-jpeg",
    "truncated-jpeg",
    "bomb",
    "tiny-image",
    "not-found",
)
_YEARS = {
    "anime": (1985, 2024),
    "black_metal": (1990, 2024),
    "classical": (1955, 2022),
    "country": (1965, 2024),
    "disco": (1974, 1986),
    "edm": (1995, 2025),
    "jazz": (1955, 2022),
    "pop": (1980, 2025),
    "rap": (1986, 2025),
    "reggae": (1968, 2020),
}
_COUNTRIES = ("US", "GB", "JP", "DE", "FR", "JM", "SE", "NO", "XW", "XE", "CA", "IT")


def mbid(seed: int, *parts: object) -> str:
    """A lower-case UUID (version 4 layout) derived from ``seed`` and ``parts``."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@dataclass(frozen=True)
class Tag:
    name: str
    count: int


@dataclass(frozen=True)
class CoverRef:
    """Which picture a release shows: ``render_cover(genre, seed, variant, size)``."""

    genre: str
    seed: int
    variant: str = "original"

    def jpeg(self, size: int = 600) -> bytes:
        return render_cover(self.genre, self.seed, self.variant, size)


@dataclass
class FakeArtist:
    id: str
    name: str
    sort_name: str
    genre: str
    type: str  # Person | Group | Orchestra | Other
    country: str | None
    tags: list[Tag]
    spotify_genres: list[str]  # what a Spotify artist object would list (lower-case)
    disambiguation: str = ""


@dataclass(frozen=True)
class Credit:
    artist_id: str
    name: str  # the credited name (usually the artist's name)
    joinphrase: str = ""


@dataclass
class FakeRelease:
    id: str
    title: str
    release_group_id: str
    date: str  # "", YYYY, YYYY-MM or YYYY-MM-DD
    country: str | None
    barcode: str | None  # None = unknown, "" = "this release has no barcode" (MB semantics)
    status: str
    packaging: str | None
    track_count: int
    tags: list[Tag]
    front: CoverRef | None  # None = no front image
    back: CoverRef | None = None
    image_id: int = 0  # CAA image id of the front; back is image_id + 1
    darkened: bool = False  # art exists but is hidden (CAA answers 404)
    legacy_index: bool = False  # index.json in the old Perl indexer's shape
    octet_index: bool = False  # index.json served as application/octet-stream
    second_hop: bool = False  # archive host answers 302 to a /node/ path first
    bad_art: str | None = None  # a BAD_ART_KINDS entry: its image files are broken

    @property
    def has_art(self) -> bool:
        return (self.front is not None or self.back is not None) and not self.darkened


@dataclass
class FakeReleaseGroup:
    id: str
    title: str
    genre: str  # the true label
    credits: list[Credit]
    primary_type: str
    secondary_types: list[str]
    first_release_date: str
    tags: list[Tag]
    release_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DuplicateLink:
    """``release_id`` shows ``source_release_id``'s cover: byte-identical or a near-duplicate."""

    release_id: str
    source_release_id: str
    kind: str  # identical | near
    same_group: bool  # another release of the same release group (a re-issue)


@dataclass(frozen=True)
class AlbumSummary:
    """One album as any source would present it (what a Spotify fake needs)."""

    release_group_id: str
    release_id: str
    title: str
    artist_ids: tuple[str, ...]
    artist_names: tuple[str, ...]
    genre: str
    date: str
    year: int | None
    upc: str | None
    track_count: int
    album_type: str  # album | compilation | single | ep (Spotify's words)
    cover: CoverRef | None


def _barcode(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(12)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)  # EAN-13 with a valid check digit


def _date(rng: random.Random, year: int) -> str:
    r = rng.random()
    if r < 0.03:
        return ""
    if r < 0.15:
        return f"{year}"
    if r < 0.40:
        return f"{year}-{rng.randint(1, 12):02d}"
    return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _tags_for(g: GenreDef, rng: random.Random, others: list[GenreDef]) -> list[Tag]:
    """Realistic tags for one release group of genre ``g``: core/sub/weak, noise, cross-genre."""
    picked: dict[str, int] = {}
    if rng.random() < 0.05:
        return []  # untagged: evidence only on the artist
    if g.core and rng.random() < 0.85:
        for t in rng.sample(g.core, min(len(g.core), rng.choice((1, 1, 2)))):
            picked[t] = rng.randint(1, 9)
    for t in rng.sample(g.sub, min(len(g.sub), rng.randint(0 if picked else 1, 2))):
        picked[t] = rng.randint(1, 4)
    if g.weak and rng.random() < 0.25:
        picked[rng.choice(g.weak)] = rng.randint(1, 3)
    if not picked:
        picked[g.name.replace("_", " ")] = 1
    if rng.random() < 0.4:
        for t in rng.sample(names.NOISE_TAGS, rng.randint(1, 2)):
            picked.setdefault(t, rng.randint(1, 3))
    if rng.random() < 0.08:
        picked.setdefault(rng.choice(names.CROSS_TAGS), rng.randint(1, 2))
    if others and rng.random() < 0.05:  # a stray tag from another genre entirely
        o = rng.choice(others)
        picked.setdefault(rng.choice(o.core or [o.name]), 1)
    return [Tag(n, c) for n, c in picked.items()]


class FakeCatalogue:
    """Artists, release groups and releases, plus indexes the fake servers query."""

    def __init__(self, seed: int, genres: list[str]) -> None:
        self.seed = seed
        self.genres = genres
        self.artists: dict[str, FakeArtist] = {}
        self.release_groups: dict[str, FakeReleaseGroup] = {}
        self.releases: dict[str, FakeRelease] = {}
        self.merged: dict[str, str] = {}  # old MBID -> current MBID (releases and groups)
        self.duplicates: list[DuplicateLink] = []
        self.genre_names: set[str] = set()  # tag names MB reports as genres
        self._docs: dict[str, list[tuple[str, Doc]]] = {}  # search documents, built lazily

    # -- generation --------------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        genres: dict[str, int] | list[str],
        per_genre: int = 60,
        seed: int = 0,
        *,
        bad_art_rate: float = 0.0,
        bad_art_kinds: tuple[str, ...] = BAD_ART_KINDS,
        duplicate_rate: float = 0.05,
        near_duplicate_rate: float = 0.05,
        taxonomy: Taxonomy | None = None,
    ) -> FakeCatalogue:
        """Generate ``per_genre`` release groups per genre (or the dict's counts), deterministic
        in ``seed``. ``bad_art_rate`` marks that share of releases with art as broken."""
        from sleeve.fakes.generate import build  # local: generate imports us

        spec = dict(genres) if isinstance(genres, dict) else {g: per_genre for g in genres}
        return build(
            cls(seed, list(spec)),
            spec,
            taxonomy or Taxonomy.load(),
            bad_art_rate,
            bad_art_kinds,
            duplicate_rate,
            near_duplicate_rate,
        )

    # -- queries -----------------------------------------------------------------------------
    def resolve(self, any_id: str) -> str:
        """The current MBID for ``any_id`` (follows merges)."""
        return self.merged.get(any_id, any_id)

    def is_genre(self, tag: str) -> bool:
        return tag in self.genre_names

    def genre_id(self, name: str) -> str:
        """Genre MBIDs do not depend on the catalogue seed (like real genre MBIDs)."""
        return mbid(-1, "genre", name)

    def credited_artists(self, rg: FakeReleaseGroup) -> list[FakeArtist]:
        return [self.artists[c.artist_id] for c in rg.credits]

    def release_group_of(self, release: FakeRelease) -> FakeReleaseGroup:
        return self.release_groups[release.release_group_id]

    def cover_release(self, rg_id: str) -> FakeRelease | None:
        """The release CAA picks for a release group: the earliest one with a front image."""
        rg = self.release_groups[rg_id]
        for rid in rg.release_ids:
            rel = self.releases[rid]
            if rel.front is not None and not rel.darkened:
                return rel
        return None

    @property
    def bad_art(self) -> dict[str, str]:
        """Release MBID -> bad-art kind, for every release generated with broken art."""
        return {r.id: r.bad_art for r in self.releases.values() if r.bad_art}

    def albums(self) -> list[AlbumSummary]:
        """One summary per release group (its first release), in generation order."""
        out = []
        for rg in self.release_groups.values():
            rel = self.releases[rg.release_ids[0]]
            cover_rel = self.cover_release(rg.id)
            year = rg.first_release_date[:4]
            kind = "compilation" if "Compilation" in rg.secondary_types else rg.primary_type.lower()
            out.append(
                AlbumSummary(
                    rg.id,
                    rel.id,
                    rg.title,
                    tuple(c.artist_id for c in rg.credits),
                    tuple(c.name for c in rg.credits),
                    rg.genre,
                    rg.first_release_date,
                    int(year) if year else None,
                    next(
                        (
                            self.releases[r].barcode
                            for r in rg.release_ids
                            if self.releases[r].barcode
                        ),
                        None,
                    ),
                    rel.track_count,
                    kind,
                    cover_rel.front if cover_rel else None,
                )
            )
        return out

    def iter_releases(self, rg_id: str) -> Iterator[FakeRelease]:
        for rid in self.release_groups[rg_id].release_ids:
            yield self.releases[rid]

    # -- search ------------------------------------------------------------------------------
    def _rg_doc(self, rg: FakeReleaseGroup) -> Doc:
        artists = self.credited_artists(rg)
        return {
            "tag": {normalise(t.name): float(t.count) for t in rg.tags},
            "primarytype": {rg.primary_type.lower(): 0.0},
            "type": {rg.primary_type.lower(): 0.0},
            "secondarytype": {s.lower(): 0.0 for s in rg.secondary_types},
            "releasegroup": {normalise(rg.title): 1.0},
            "rgid": {rg.id: 1.0},
            "artist": {normalise(a.name): 1.0 for a in artists},
            "artistname": {normalise(a.name): 1.0 for a in artists},
            "arid": {a.id: 1.0 for a in artists},
            "firstreleasedate": {rg.first_release_date: 1.0},
            "release": {normalise(rg.title): 1.0},
            "reid": {r: 1.0 for r in rg.release_ids},
        }

    def _release_doc(self, rel: FakeRelease) -> Doc:
        rg = self.release_group_of(rel)
        doc = dict(self._rg_doc(rg))
        doc.update(
            {
                "tag": {normalise(t.name): float(t.count) for t in rel.tags},
                "reid": {rel.id: 1.0},
                "barcode": {rel.barcode: 1.0} if rel.barcode else {},
                "status": {rel.status.lower(): 0.0},
                "country": {(rel.country or "").lower(): 0.0},
                "date": {rel.date: 0.0},
            }
        )
        return doc

    def search(self, entity: str, query: str) -> list[tuple[str, float]]:
        """(MBID, raw relevance) of every ``release-group``/``release`` matching ``query``,
        best first (ties by MBID so paging is stable). Raises QuerySyntaxError."""
        node = parse(query)
        hits: list[tuple[str, float]] = []
        # Documents are built once per catalogue (it is not mutated after generation).
        cache = self._docs
        if entity not in cache:
            if entity == "release-group":
                cache[entity] = [(g.id, self._rg_doc(g)) for g in self.release_groups.values()]
            else:
                cache[entity] = [(r.id, self._release_doc(r)) for r in self.releases.values()]
        items = cache[entity]
        for item_id, doc in items:
            score = node.score(doc)
            if score is not None:
                hits.append((item_id, score))
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits
