"""What the fake Spotify knows: artists and albums derived from a :class:`FakeCatalogue`.

A share of the MusicBrainz catalogue's albums is *shared*: same title, same first artist name,
same release date and the same UPC (the release's barcode), and the same drawing as cover
(served at 640/300/64 px, so perceptual dedup collapses it with the Cover Art Archive's copy).
The rest of Spotify comes from a second generated catalogue (``only``), whose albums
MusicBrainz does not have. That overlap is what ``collect --source all`` must store once.

Traps, all deterministic: artists whose ``genres`` key is absent or ``[]`` (deprecated field),
a few reggaeton artists that a ``genre:"reggae"`` search returns (the filter matches loosely,
as Spotify's does) but whose genres must not map to reggae, albums whose image ids carry no
size marker and whose image list is not widest-first (choose by ``width``), and EPs reported
as singles, compilations left out of ``include_groups=album,single``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.records import (
    VARIOUS_ARTISTS_ID,
    AlbumSummary,
    CoverRef,
)

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
IMAGE_SIZES = (640, 300, 64)
# Modern i.scdn.co ids encode the size in a prefix; legacy ids are plain 40-hex.
SIZE_PREFIX = {640: "ab67616d0000b273", 300: "ab67616d00001e02", 64: "ab67616d00004851"}
REGGAETON_GENRES = ["reggaeton", "urbano latino", "trap latino"]


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def spotify_id(*parts: object) -> str:
    """A 22-character base62 id derived from ``parts`` (Spotify ids look like this)."""
    n = int.from_bytes(_digest("spotify-id", *parts)[:17], "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(out)


def _fraction(*parts: object) -> float:
    return int.from_bytes(_digest("fraction", *parts)[:4], "big") / 2**32


@dataclass
class SpArtist:
    id: str
    name: str
    genres: list[str]  # the truth the genre: filter searches
    shows_genres: str = "yes"  # yes | absent (no key) | empty ([])
    album_ids: list[str] = field(default_factory=list)

    @property
    def popularity(self) -> int:  # search ranks prolific artists first
        return len(self.album_ids)


@dataclass
class SpAlbum:
    id: str
    name: str
    album_type: str  # album | single | compilation
    release_date: str
    artist_ids: list[str]
    upc: str | None
    cover: CoverRef
    legacy_images: bool = False  # 40-hex ids without size marker, listed out of order
    release_group_id: str | None = None  # set when MusicBrainz has the same album

    @property
    def precision(self) -> str:
        return {4: "year", 7: "month"}.get(len(self.release_date), "day")

    def image_id(self, size: int) -> str:
        tail = hashlib.sha1(f"{self.id}:{size}".encode()).hexdigest()
        return tail if self.legacy_images else SIZE_PREFIX[size] + tail[:24]

    def image_sizes(self) -> tuple[int, ...]:
        return (300, 640, 64) if self.legacy_images else IMAGE_SIZES


class SpotifyCatalogue:
    """Artists and albums, plus the image-id index the CDN serves from."""

    def __init__(
        self, absent_genres: float = 0.25, empty_genres: float = 0.1, legacy_images: float = 0.15
    ) -> None:
        self.absent_genres = absent_genres
        self.empty_genres = empty_genres
        self.legacy_images = legacy_images
        self.artists: dict[str, SpArtist] = {}
        self.albums: dict[str, SpAlbum] = {}
        self.images: dict[str, tuple[str, int]] = {}  # image id -> (album id, size)

    @classmethod
    def from_catalogue(
        cls,
        shared_from: FakeCatalogue,
        *,
        only: FakeCatalogue | None = None,
        shared: float = 0.5,
        absent_genres: float = 0.25,
        empty_genres: float = 0.1,
        reggaeton_artists: int = 2,
        legacy_images: float = 0.15,
    ) -> SpotifyCatalogue:
        """``shared`` of ``shared_from``'s albums (with a date) plus every album of ``only``."""
        sp = cls(absent_genres, empty_genres, legacy_images)
        for album in shared_from.albums():
            if album.date and _fraction("shared", album.release_group_id) < shared:
                sp._add(shared_from, album, mb_group=album.release_group_id)
        if only is not None:
            for album in only.albums():
                sp._add(only, album, mb_group=None)
        if reggaeton_artists and "reggae" in shared_from.genres:
            sp._add_reggaeton(shared_from.seed, reggaeton_artists)
        return sp

    def _artist(self, cat: FakeCatalogue, artist_id: str) -> SpArtist:
        sid = spotify_id("artist", cat.seed, artist_id)
        artist = self.artists.get(sid)
        if artist is None:
            fa = cat.artists[artist_id]
            r = _fraction("genres", sid)
            shows = "yes"
            if r < self.absent_genres + self.empty_genres:
                shows = "absent" if r < self.absent_genres else "empty"
            artist = SpArtist(sid, fa.name, list(fa.spotify_genres), shows)
            self.artists[sid] = artist
        return artist

    def _add(self, cat: FakeCatalogue, album: AlbumSummary, *, mb_group: str | None) -> None:
        if album.album_type == "compilation" or not album.artist_ids:
            return
        if album.artist_ids[0] == VARIOUS_ARTISTS_ID:
            return
        artists = [self._artist(cat, a) for a in album.artist_ids if a != VARIOUS_ARTISTS_ID]
        aid = spotify_id("album", cat.seed, album.release_group_id)
        cover = album.cover or CoverRef(album.genre, int(_fraction("cover", aid) * 2**31))
        year = album.date[:4] if album.date else str(album.year or 2000)
        self._put(
            SpAlbum(
                id=aid,
                name=album.title,
                album_type="album" if album.album_type == "album" else "single",
                release_date=album.date or year,
                artist_ids=[a.id for a in artists],
                upc=album.upc,
                cover=cover,
                legacy_images=_fraction("legacy", aid) < self.legacy_images,
                release_group_id=mb_group,
            )
        )

    def _put(self, album: SpAlbum) -> None:
        self.albums[album.id] = album
        self.artists[album.artist_ids[0]].album_ids.append(album.id)
        for size in IMAGE_SIZES:
            self.images[album.image_id(size)] = (album.id, size)

    def _add_reggaeton(self, seed: int, n: int) -> None:
        """Artists a loose genre:"reggae" search returns whose genres must not map to reggae."""
        for k in range(n):
            artist = SpArtist(
                spotify_id("reggaeton", seed, k), f"Los Perreo {k + 1}", list(REGGAETON_GENRES)
            )
            self.artists[artist.id] = artist
            for j in range(3):
                aid = spotify_id("reggaeton-album", seed, k, j)
                self._put(
                    SpAlbum(
                        id=aid,
                        name=f"Perreo Vol. {j + 1}",
                        album_type="album",
                        release_date=f"{2016 + j}-0{j + 1}-1{k}",
                        artist_ids=[artist.id],
                        upc=None,
                        cover=CoverRef("reggaeton", 9000 + 10 * k + j),
                    )
                )

    # -- queries -----------------------------------------------------------------------------
    def search_artists(self, genre: str | None, text: str) -> list[SpArtist]:
        """Artists matching a ``genre:`` filter (substring, like Spotify's loose match) and free
        text in the name; most albums first, ties by id so paging is stable."""
        genre = (genre or "").lower().strip()
        words = text.lower().split()
        hits = [
            a
            for a in self.artists.values()
            if a.album_ids
            and (not genre or any(genre in g for g in a.genres))
            and all(w in a.name.lower() for w in words)
        ]
        return sorted(hits, key=lambda a: (-a.popularity, a.id))

    def shared_albums(self) -> list[SpAlbum]:
        """Albums MusicBrainz has too (same title, artist, date and UPC)."""
        return [a for a in self.albums.values() if a.release_group_id]
