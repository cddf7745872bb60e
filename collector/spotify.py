"""Spotify Web API client: builds URLs, parses JSON into typed records, nothing else.

Why not spotipy (2.26, installed): it does not fit the HTTP layer every other source uses.
* Retries: it mounts a ``urllib3.Retry`` on its session, which sleeps the *whole* Retry-After
  (Spotify has sent ~80 000 s) with no cap, and after the retries reports any final failure,
  a 502 included, as ``SpotifyException(429, "Max Retries")``. Turning that off
  (``retries=0``) leaves us writing the backoff ourselves anyway.
* Secrets: at DEBUG it logs every request's headers (the ``Bearer`` token) and the token
  POST's ``Basic`` header (base64 of id:secret): one ``-v`` run would leak both.
* Bodies: a truncated or non-JSON 200 body becomes ``None`` silently (``except ValueError``),
  and bodies are read with no size cap; the token POST has no timeout by default.
* Expired tokens: a 401 "The access token expired" is raised, not renewed.
* Defaults that bite: ``artist_albums(limit=20)`` is over the Dev-Mode cap of 10; the
  client-credentials manager writes a ``.cache`` token file in the CWD unless given a
  ``MemoryCacheHandler``; the token URL is a class attribute (subclass to move it).
What does fit (``sp.prefix`` for the base URL, ``sp.next`` following absolute links) is a few
lines here. So, as for MusicBrainz, a small client over :class:`HttpClient`: capped
Retry-After, one retry policy, size caps, and redacted errors for every source alike.

Development-Mode apps (every new app since 2026) get at most 10 items per page on search and
artist albums; ``PAGE_LIMIT`` never asks for more. ``next`` links are followed only on the
configured API base (re-based onto it), so the bearer token never goes to another host.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from sleeve.collector.http import HttpClient
from sleeve.collector.spotify_auth import SpotifyToken
from sleeve.core.errors import ForbiddenError, PermanentRemoteError

log = logging.getLogger("sleeve.spotify")

PAGE_LIMIT = 10  # Dev-Mode maximum for search and artist albums (400 "Invalid limit" above)
ALBUM_GROUPS = "album,single"


@dataclass(frozen=True)
class SpotifyImage:
    url: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class SpotifyArtist:
    id: str
    name: str
    # None: the field was absent (deprecated since Feb 2026); (): present but empty
    genres: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SpotifyAlbum:
    id: str
    name: str
    album_type: str = ""
    release_date: str = ""  # "1981", "1981-12" or "1981-12-15"
    artists: tuple[tuple[str, str], ...] = ()  # (id, name)
    images: tuple[SpotifyImage, ...] = ()
    upc: str = ""  # only from GET /albums/{id} (external_ids.upc)

    @property
    def artist_name(self) -> str:
        return self.artists[0][1] if self.artists else ""

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/album/{self.id}"

    def best_image(self, max_width: int) -> SpotifyImage | None:
        """The largest image no wider than ``max_width``, chosen by ``width`` (never by URL).

        Older albums have plain hex image ids with no size marker, so the URL says nothing.
        When every image is wider than the cap, the narrowest one is the closest we can get.
        """
        sized = [i for i in self.images if i.width]
        fitting = [i for i in sized if (i.width or 0) <= max_width]
        if fitting:
            return max(fitting, key=lambda i: i.width or 0)
        if sized:
            return min(sized, key=lambda i: i.width or 0)
        return self.images[0] if self.images else None


T = TypeVar("T")


@dataclass
class SpotifyPage(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_url: str = ""  # "" on the last page
    total: int = 0
    received: int = 0  # items on the page, parseable or not
    malformed: int = 0  # items skipped for missing required fields


class SpotifyClient:
    def __init__(self, http: HttpClient, token: SpotifyToken, api_url: str) -> None:
        self.http = http
        self.token = token
        self.api_url = api_url.rstrip("/")
        base = urlsplit(self.api_url)
        self._base = (base.scheme, base.netloc, base.path.rstrip("/"))

    # -- endpoints --------------------------------------------------------------------------
    def search_artists(self, query: str, *, limit: int = PAGE_LIMIT) -> SpotifyPage[SpotifyArtist]:
        """First page of ``GET /search?type=artist`` (``query`` like ``genre:"black metal"``)."""
        params = {"q": query, "type": "artist", "limit": min(limit, PAGE_LIMIT), "offset": 0}
        return self.artist_page(self._get(f"{self.api_url}/search", params))

    def artist_page(self, payload: Any) -> SpotifyPage[SpotifyArtist]:
        return _page(_block(payload, "artists"), parse_artist, self.rebase)

    def next_artists(self, next_url: str) -> SpotifyPage[SpotifyArtist]:
        return self.artist_page(self._get(self.rebase(next_url), None))

    def artist_albums(
        self, artist_id: str, *, next_url: str = "", limit: int = PAGE_LIMIT
    ) -> SpotifyPage[SpotifyAlbum]:
        """One page of ``GET /artists/{id}/albums`` (albums and singles, not appearances)."""
        if next_url:
            payload = self._get(self.rebase(next_url), None)
        else:
            params = {"include_groups": ALBUM_GROUPS, "limit": min(limit, PAGE_LIMIT), "offset": 0}
            payload = self._get(f"{self.api_url}/artists/{artist_id}/albums", params)
        return _page(payload, parse_album, self.rebase)

    # -- plumbing ---------------------------------------------------------------------------
    def rebase(self, url: str) -> str:
        """``url`` on the configured API host; refuse paths outside the API base.

        Spotify's ``next`` links are absolute (``https://api.spotify.com/v1/...``). Re-basing
        keeps a mirror or the loopback fake working and means the bearer token is only ever
        sent to the host the user configured.
        """
        scheme, netloc, path = self._base
        parts = urlsplit(url)
        if not parts.path.startswith(path + "/"):
            raise PermanentRemoteError(
                f"Spotify paging link outside the API base {self.api_url}: {url}",
                url=url,
                reason="bad-link",
            )
        return urlunsplit((scheme, netloc, parts.path, parts.query, ""))

    def _get(self, url: str, params: dict[str, Any] | None) -> Any:
        token = self.token.bearer()
        for attempt in (1, 2):
            try:
                return self.http.get_json(url, params=params, headers=_auth(token))
            except ForbiddenError as exc:
                raise ForbiddenError(
                    f"Spotify refused {urlsplit(url).path} (403 Forbidden). Since Feb/Mar 2026 "
                    "Spotify closes many endpoints to Development-Mode apps; this one is no "
                    f"longer available to this app. ({exc})",
                    url=url,
                    status=403,
                    reason="http-403",
                ) from None
            except PermanentRemoteError as exc:
                if exc.status != 401 or attempt == 2:
                    raise
                # 401 "The access token expired" (or revoked early): renew once, try again.
                token = self.token.renew(token)
        raise AssertionError("unreachable")  # pragma: no cover


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _block(payload: Any, key: str) -> Any:
    if not isinstance(payload, dict) or not isinstance(payload.get(key), dict):
        raise PermanentRemoteError(f"Spotify search: no '{key}' paging object", reason="bad-shape")
    return payload[key]


def _page(payload: Any, parse: Any, rebase: Any) -> SpotifyPage[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise PermanentRemoteError("Spotify: expected a paging object", reason="bad-shape")
    raw_items = payload["items"]
    page: SpotifyPage[Any] = SpotifyPage(total=_int(payload.get("total")), received=len(raw_items))
    nxt = payload.get("next")
    if isinstance(nxt, str) and nxt and raw_items:
        page.next_url = rebase(nxt)
    for raw in raw_items:
        item = parse(raw)
        if item is None:
            page.malformed += 1
        else:
            page.items.append(item)
    return page


def parse_artist(raw: Any) -> SpotifyArtist | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw.get("name"):
        return None
    genres = raw.get("genres")
    parsed = (
        tuple(str(g) for g in genres if isinstance(g, str)) if isinstance(genres, list) else None
    )
    return SpotifyArtist(id=raw["id"], name=str(raw["name"]), genres=parsed)


def parse_album(raw: Any) -> SpotifyAlbum | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw.get("name"):
        return None
    artists = tuple(
        (a["id"], str(a.get("name") or ""))
        for a in raw.get("artists") or []
        if isinstance(a, dict) and isinstance(a.get("id"), str)
    )
    images = tuple(
        SpotifyImage(str(i["url"]), _opt_int(i.get("width")), _opt_int(i.get("height")))
        for i in raw.get("images") or []
        if isinstance(i, dict) and isinstance(i.get("url"), str)
    )
    ext = raw.get("external_ids")
    upc = str(ext.get("upc") or "") if isinstance(ext, dict) else ""
    return SpotifyAlbum(
        id=raw["id"],
        name=str(raw["name"]),
        album_type=str(raw.get("album_type") or ""),
        release_date=str(raw.get("release_date") or ""),
        artists=artists,
        images=images,
        upc=upc,
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _opt_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
