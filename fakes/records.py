"""The records of a generated music catalogue (artists, release groups, releases, tags, cover
references, duplicate links) and the store they live in; filled by generate.py, queried through
catalogue.py. Everything is a plain dataclass and deterministic in the catalogue's seed."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field

from sleeve.core.taxonomy import GenreDef
from sleeve.fakes import names
from sleeve.fakes.covers import render_cover

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


class CatalogueRecords:
    """What a catalogue holds; :class:`~sleeve.fakes.catalogue.FakeCatalogue` adds the queries."""

    def __init__(self, seed: int, genres: list[str]) -> None:
        self.seed = seed
        self.genres = genres
        self.artists: dict[str, FakeArtist] = {}
        self.release_groups: dict[str, FakeReleaseGroup] = {}
        self.releases: dict[str, FakeRelease] = {}
        self.merged: dict[str, str] = {}  # old MBID -> current MBID (releases and groups)
        self.duplicates: list[DuplicateLink] = []
        self.genre_names: set[str] = set()  # tag names MB reports as genres
