"""MusicBrainz WS/2 client: builds URLs, parses the JSON into typed records, nothing else.

Why not musicbrainzngs: 0.7.1 (the PyPI release) has no ``inc=genres``, ignores Retry-After,
sleeps up to 56 s per failing URL in its own retry loop, keeps its settings in module globals,
and parses XML into its own dict shapes. Our HTTP layer already owns pacing and retries, so a
small client over the server's JSON is less code and behaves better.

Genre search is tag search (there is no ``genre:`` field); release-group search results carry
``tags`` with vote counts, which include the genre-named tags, so one search request yields the
evidence for up to 100 release groups without per-item lookups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sleeve.collector.http import HttpClient
from sleeve.core.errors import PermanentRemoteError

log = logging.getLogger("sleeve.musicbrainz")

PAGE_SIZE = 100  # the search maximum; anything above is silently turned into 25 by the server


@dataclass(frozen=True)
class ArtistCredit:
    id: str
    name: str


@dataclass(frozen=True)
class ReleaseGroupRecord:
    id: str
    title: str
    first_release_date: str = ""
    primary_type: str = ""
    secondary_types: tuple[str, ...] = ()
    artists: tuple[ArtistCredit, ...] = ()
    tags: tuple[tuple[str, int], ...] = ()  # (name, votes), as the server sent them
    # lookups and the JSON dumps carry the curated genres too (search results never do)
    genres: tuple[tuple[str, int], ...] = ()
    release_ids: tuple[str, ...] = ()

    @property
    def artist_name(self) -> str:
        return self.artists[0].name if self.artists else ""


@dataclass
class SearchPage:
    count: int  # total hits for the query
    offset: int
    items: list[ReleaseGroupRecord] = field(default_factory=list)
    received: int = 0  # items on the page, parseable or not (paging advances by this)
    malformed: int = 0  # items skipped for missing required fields


class MusicBrainzClient:
    def __init__(self, http: HttpClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        payload = self.http.get_json(
            f"{self.base_url}/{path}",
            params={**params, "fmt": "json"},
            headers={"Accept": "application/json"},
        )
        if not isinstance(payload, dict):
            raise PermanentRemoteError(
                f"MusicBrainz {path}: expected a JSON object", reason="bad-shape"
            )
        return payload

    def search_release_groups(
        self, query: str, *, offset: int = 0, limit: int = PAGE_SIZE
    ) -> SearchPage:
        payload = self._get("release-group", {"query": query, "limit": limit, "offset": offset})
        raw_items = payload.get("release-groups")
        if not isinstance(raw_items, list):
            raise PermanentRemoteError(
                "MusicBrainz search: no 'release-groups' list in the response", reason="bad-shape"
            )
        page = SearchPage(
            count=_int(payload.get("count"), 0),
            offset=_int(payload.get("offset"), offset),
            received=len(raw_items),
        )
        for raw in raw_items:
            record = parse_release_group(raw)
            if record is None:
                page.malformed += 1
            else:
                page.items.append(record)
        return page

    def genre_names(self) -> set[str]:
        """The names MusicBrainz currently treats as genres (one paged walk of genre/all)."""
        names: set[str] = set()
        offset = 0
        while True:
            payload = self._get("genre/all", {"limit": 100, "offset": offset})
            genres = payload.get("genres") or []
            names.update(str(g.get("name", "")).lower() for g in genres if isinstance(g, dict))
            offset += len(genres)
            if not genres or offset >= _int(payload.get("genre-count"), 0):
                return names


def parse_release_group(raw: Any) -> ReleaseGroupRecord | None:
    """A release group from a search item or lookup; None when required fields are missing."""
    if not isinstance(raw, dict):
        return None
    rgid = raw.get("id")
    title = raw.get("title")
    if not isinstance(rgid, str) or not rgid or not isinstance(title, str):
        return None
    artists = []
    for credit in raw.get("artist-credit") or []:
        artist = credit.get("artist") if isinstance(credit, dict) else None
        if isinstance(artist, dict) and isinstance(artist.get("id"), str):
            artists.append(
                ArtistCredit(artist["id"], str(credit.get("name") or artist.get("name") or ""))
            )
    tags = _named_counts(raw.get("tags"))
    genres = _named_counts(raw.get("genres"))
    releases = tuple(
        r["id"]
        for r in raw.get("releases") or []
        if isinstance(r, dict) and isinstance(r.get("id"), str)
    )
    return ReleaseGroupRecord(
        id=rgid.lower(),
        title=title,
        first_release_date=str(raw.get("first-release-date") or ""),
        primary_type=str(raw.get("primary-type") or ""),
        secondary_types=tuple(str(s) for s in raw.get("secondary-types") or []),
        artists=tuple(artists),
        tags=tags,
        genres=genres,
        release_ids=releases,
    )


def _named_counts(items: Any) -> tuple[tuple[str, int], ...]:
    """``tags``/``genres`` as (name, votes); entries without a name are dropped."""
    return tuple(
        (str(t["name"]), _int(t.get("count"), 1))
        for t in items or []
        if isinstance(t, dict) and t.get("name")
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
