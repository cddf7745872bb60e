"""Loopback fake Spotify: accounts host (token), Web API host (Dev-Mode profile), image CDN.

Three :class:`ServiceServer` instances (services ``spotify-accounts``, ``spotify``,
``spotify-cdn``) serve a :class:`SpotifyCatalogue` built from the same :class:`FakeCatalogue`
the fake MusicBrainz serves, so a share of albums exists in both. Start it alone
(``with FakeSpotify(catalogue) as sp``) or beside the MusicBrainz fakes with
``services_with_spotify(catalogue)`` (one request log; each keeps its own fault registry).

Behaviour follows shared/docs/spotify.md: Basic-auth client credentials (bad ones: 400
``invalid_client``), configurable ``expires_in``, Bearer check with the three 401 shapes,
``expire_token_once()`` for a 401 "The access token expired" mid-run, search with ``q`` or
``query`` (limit > 10: 400 "Invalid limit" in the dev profile, offset window 1000: 400
"Bad request."), paging links on the fake's own base URL with ``query=``, 403 on the batch
``/artists?ids=`` endpoint (removed for Dev Mode), ``/albums/{id}`` with ``external_ids.upc``.

Faults use the MusicBrainz fakes' registry and kinds (``faults.py``), e.g.
``sp.faults.add("spotify", r"^/v1/search", "status", status=429, retry_after=80000, body="")``
(an empty-body 429), ``"slow"``, ``"truncate-json"``, ``"status"`` with 500/502/503, and on
``spotify-cdn`` the image faults. Dispatch is the MB fakes' ``make_dispatch`` (gate -> fault ->
handler -> post-fault -> latency); the Bearer check is the API host's gate.
Limitation: ``fakes.http.Request`` carries no body, so form-field credentials and
``grant_type`` are not checked; Basic auth is.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from sleeve.core.settings import Secret, Settings
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.faults import FaultRegistry, FaultRule
from sleeve.fakes.http import Request, RequestLog, Response, ServiceServer
from sleeve.fakes.server import FakeServices, make_dispatch
from sleeve.fakes.spotify_catalogue import SpAlbum, SpArtist, SpotifyCatalogue

SERVICES = ("spotify-accounts", "spotify", "spotify-cdn")
CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret-0123456789"
_JSON = {"Content-Type": "application/json; charset=utf-8"}
_GENRE = re.compile(r'genre:(?:"([^"]*)"|(\S+))', re.IGNORECASE)


class SpotifyFaults(FaultRegistry):
    """The MB fakes' registry, also accepting the three Spotify service names.

    ``FaultRegistry.add`` validates against its own service list; a rule is added for "*" and
    then re-targeted (before any request can see it, since tests arm faults between calls).
    """

    def add(
        self, service: str, path_regex: str, fault: str, times: int | None = 1, **params: Any
    ) -> FaultRule:
        if service not in SERVICES:
            return super().add(service, path_regex, fault, times, **params)
        rule = super().add("*", path_regex, fault, times, **params)
        rule.service = service
        return rule


class FakeSpotify:
    def __init__(
        self,
        catalogue: FakeCatalogue | SpotifyCatalogue,
        *,
        only: FakeCatalogue | None = None,
        shared: float = 0.5,
        profile: str = "dev",  # dev (limit <= 10, batch endpoints 403) | extended
        expires_in: int = 3600,
        search_window: int = 1000,
        log: RequestLog | None = None,
        latency: float = 0.0,
    ) -> None:
        if isinstance(catalogue, FakeCatalogue):
            catalogue = SpotifyCatalogue.from_catalogue(catalogue, only=only, shared=shared)
        self.catalogue = catalogue
        self.profile = profile
        self.expires_in = expires_in
        self.search_window = search_window
        self.log = log or RequestLog()
        self.faults = SpotifyFaults()
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._expire_next = 0
        self._expire_after = 0
        self._lock = threading.Lock()
        self.latency = latency
        apps = (
            _App("spotify-accounts", self._token, _oauth_error, None, 0.0),
            _App("spotify", self._route, _api_error, self._check_bearer, latency),
            _App("spotify-cdn", self._image, _cdn_error, None, 0.0),
        )
        self._servers = {
            app.service: ServiceServer(app.service, make_dispatch(app, self.faults), self.log)
            for app in apps
        }

    # -- lifecycle and wiring ---------------------------------------------------------------
    def __enter__(self) -> FakeSpotify:
        for server in self._servers.values():
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers.values():
            server.stop()

    @property
    def token_url(self) -> str:
        return self._servers["spotify-accounts"].base_url + "/api/token"

    @property
    def api_url(self) -> str:
        return self._servers["spotify"].base_url + "/v1"

    @property
    def cdn_url(self) -> str:
        return self._servers["spotify-cdn"].base_url

    def env(self) -> dict[str, str]:
        """Environment for ``load_settings`` / a ``collect`` subprocess."""
        return {
            "SPOTIFY_API_URL": self.api_url,
            "SPOTIFY_TOKEN_URL": self.token_url,
            "SPOTIPY_CLIENT_ID": CLIENT_ID,
            "SPOTIPY_CLIENT_SECRET": CLIENT_SECRET,
        }

    def configure(self, settings: Settings) -> Settings:
        """``settings`` pointed at this fake, with its valid credentials."""
        return replace(
            settings,
            spotify_api_url=self.api_url,
            spotify_token_url=self.token_url,
            spotify_client_id=CLIENT_ID,
            spotify_client_secret=Secret(CLIENT_SECRET),
        )

    def expire_token_once(self, after: int = 0) -> None:
        """After ``after`` more authorised API requests, one gets 401 "The access token expired"
        (and that token stays dead, as a really expired one would)."""
        with self._lock:
            self._expire_after = after
            self._expire_next += 1

    @property
    def issued_tokens(self) -> list[str]:
        """Every token handed out (tests scan logs and files for them)."""
        with self._lock:
            return list(self._tokens)

    def requests(self, service: str = "spotify") -> list[Any]:
        return self.log.for_service(service)

    # -- accounts host ----------------------------------------------------------------------
    def _token(self, req: Request) -> Response:
        if req.path != "/api/token":
            return _oauth_error(req, 404, "not found")
        if req.method != "POST":
            return _oauth_error(req, 405, "method not allowed")
        if "x-www-form-urlencoded" not in (req.headers.get("Content-Type") or ""):
            return _oauth_error(req, 415, "unsupported_media_type")
        auth = req.headers.get("Authorization") or ""
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if not auth.startswith("Basic ") or not secrets.compare_digest(auth[6:], expected):
            return Response(
                400,
                _dump({"error": "invalid_client", "error_description": "Invalid client"}),
                dict(_JSON),
            )
        token = "BQ" + secrets.token_urlsafe(60)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.expires_in
            self.tokens_issued += 1
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        return Response(200, _dump(body), dict(_JSON))

    def _check_bearer(self, req: Request) -> Response | None:
        auth = req.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return _api_error(req, 401, "No token provided")
        token = auth[7:]
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return _api_error(req, 401, "Invalid access token")
            if self._expire_next > 0 and self._expire_after > 0:
                self._expire_after -= 1
            elif self._expire_next > 0 or expiry <= time.monotonic():
                self._expire_next = max(0, self._expire_next - 1)
                self._tokens[token] = 0.0
                return _api_error(req, 401, "The access token expired")
        return None

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if req.method != "GET":
            return _api_error(req, 405, "Method not allowed")
        if path == "/v1/search":
            return self._search(req)
        if path == "/v1/artists":
            if self.profile == "dev":
                return _api_error(req, 403, "Forbidden")
            ids = (req.arg("ids") or "").split(",")
            return _ok({"artists": [self._artist_json(req, i) for i in ids]})
        m = re.fullmatch(r"/v1/artists/([0-9A-Za-z]{22})(/albums)?", path)
        if m:
            artist = self.catalogue.artists.get(m.group(1))
            if artist is None:
                return _api_error(req, 404, "Resource not found")
            if m.group(2):
                return self._artist_albums(req, artist)
            return _ok(self._artist_json(req, artist.id))
        m = re.fullmatch(r"/v1/albums/([0-9A-Za-z]{22})", path)
        if m:
            album = self.catalogue.albums.get(m.group(1))
            if album is None:
                return _api_error(req, 404, "Resource not found")
            return _ok(self._album_json(req, album, full=True))
        if re.fullmatch(r"/v1/(artists|albums)/[^/]+(/albums)?", path):
            return _api_error(req, 400, "invalid id")
        return _api_error(req, 404, "Service not found")

    def _paging(self, req: Request, default: int = 5) -> tuple[int, int] | Response:
        try:
            limit = int(req.arg("limit") or default)
            offset = int(req.arg("offset") or 0)
        except ValueError:
            return _api_error(req, 400, "Invalid limit")
        cap = 10 if self.profile == "dev" else 50
        if not 0 <= limit <= cap:
            return _api_error(req, 400, "Invalid limit")
        if offset < 0:
            return _api_error(req, 400, "Bad request.")
        return limit, offset

    def _search(self, req: Request) -> Response:
        q = req.arg("q") or req.arg("query") or ""
        if not q.strip():
            return _api_error(req, 400, "No search query")
        types = (req.arg("type") or "").split(",")
        paging = self._paging(req)
        if isinstance(paging, Response):
            return paging
        limit, offset = paging
        if offset > self.search_window:
            return _api_error(req, 400, "Bad request.")
        m = _GENRE.search(q)
        genre = (m.group(1) or m.group(2)) if m else None
        text = _GENRE.sub(" ", q)
        out: dict[str, Any] = {}
        if "artist" in types:
            hits = self.catalogue.search_artists(genre, text)
            items = [self._artist_json(req, a.id) for a in hits[offset : offset + limit]]
            params = {"query": q, "type": ",".join(types)}
            out["artists"] = _page(req, "/v1/search", params, items, len(hits), limit, offset)
        if "album" in types:  # genre: does not filter albums; this fake finds none then
            out["albums"] = _page(
                req, "/v1/search", {"query": q, "type": ",".join(types)}, [], 0, limit, offset
            )
        if not out:
            return _api_error(req, 400, "Bad request.")
        return _ok(out)

    def _artist_albums(self, req: Request, artist: SpArtist) -> Response:
        paging = self._paging(req)
        if isinstance(paging, Response):
            return paging
        limit, offset = paging
        groups = set(
            (req.arg("include_groups") or "album,single,compilation,appears_on").split(",")
        )
        albums = [self.catalogue.albums[a] for a in artist.album_ids]
        albums = [a for a in albums if a.album_type in groups]
        items = [self._album_json(req, a) for a in albums[offset : offset + limit]]
        params = {"include_groups": ",".join(sorted(groups))}
        path = f"/v1/artists/{artist.id}/albums"
        return _ok(_page(req, path, params, items, len(albums), limit, offset))

    # -- JSON shapes --------------------------------------------------------------------------
    def _artist_json(self, req: Request, artist_id: str) -> dict[str, Any] | None:
        artist = self.catalogue.artists.get(artist_id)
        if artist is None:
            return None
        out: dict[str, Any] = {
            "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist.id}"},
            "href": f"{req.base_url}/v1/artists/{artist.id}",
            "id": artist.id,
            "images": [],
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }
        if artist.shows_genres != "absent":
            out["genres"] = list(artist.genres) if artist.shows_genres == "yes" else []
        return out

    def _album_json(self, req: Request, album: SpAlbum, *, full: bool = False) -> dict[str, Any]:
        artists = [self.catalogue.artists[a] for a in album.artist_ids]
        out: dict[str, Any] = {
            "album_type": album.album_type,
            "total_tracks": 10,
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album.id}"},
            "href": f"{req.base_url}/v1/albums/{album.id}",
            "id": album.id,
            "images": [
                {"height": s, "url": f"{self.cdn_url}/image/{album.image_id(s)}", "width": s}
                for s in album.image_sizes()
            ],
            "name": album.name,
            "release_date": album.release_date,
            "release_date_precision": album.precision,
            "type": "album",
            "uri": f"spotify:album:{album.id}",
            "artists": [
                {
                    "external_urls": {"spotify": f"https://open.spotify.com/artist/{a.id}"},
                    "href": f"{req.base_url}/v1/artists/{a.id}",
                    "id": a.id,
                    "name": a.name,
                    "type": "artist",
                    "uri": f"spotify:artist:{a.id}",
                }
                for a in artists
            ],
        }
        if full:
            out["genres"] = []  # always empty for albums (documented)
            out["external_ids"] = {"upc": album.upc} if album.upc else {}
            out["tracks"] = {
                "href": f"{req.base_url}/v1/albums/{album.id}/tracks",
                "items": [],
                "limit": 0,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": 10,
            }
        return out

    # -- CDN ------------------------------------------------------------------------------------
    def _image(self, req: Request) -> Response:
        m = re.fullmatch(r"/image/([0-9a-f]{40})", req.path)
        found = self.catalogue.images.get(m.group(1)) if m else None
        if found is None:
            return _cdn_error(req, 404, "Not Found")
        album_id, size = found
        body = self.catalogue.albums[album_id].cover.jpeg(size)
        return Response(
            200, body, {"Content-Type": "image/jpeg", "Cache-Control": "public, max-age=31536000"}
        )


class _App:
    """One fake host in the shape ``server.make_dispatch`` expects (gate, handle, error)."""

    def __init__(self, service: str, handle: Any, error: Any, gate: Any, latency: float) -> None:
        self.service = service
        self.handle = handle
        self.error = error
        self._gate = gate
        self._latency = latency

    def gate(self, req: Request) -> Response | None:
        return self._gate(req) if self._gate is not None else None

    def latency(self, req: Request, resp: Response) -> float:
        return self._latency


@contextmanager
def services_with_spotify(
    catalogue: FakeCatalogue,
    *,
    only: FakeCatalogue | None = None,
    shared: float = 0.5,
    spotify: dict[str, Any] | None = None,
    **mb_options: Any,
) -> Iterator[tuple[FakeServices, FakeSpotify]]:
    """The MusicBrainz/CAA fakes and the Spotify fake over one catalogue, one request log."""
    with FakeServices(catalogue, **mb_options) as fx:
        sp = FakeSpotify(catalogue, only=only, shared=shared, log=fx.requests, **(spotify or {}))
        with sp:
            yield fx, sp


def _page(
    req: Request,
    path: str,
    params: dict[str, str],
    items: list[Any],
    total: int,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    def link(off: int) -> str:
        query = urlencode({**params, "offset": off, "limit": limit}, quote_via=quote)
        return f"{req.base_url}{path}?{query}"

    return {
        "href": link(offset),
        "limit": limit,
        "next": link(offset + limit) if offset + limit < total else None,
        "offset": offset,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "total": total,
        "items": items,
    }


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _ok(obj: Any) -> Response:
    return Response(200, _dump(obj), dict(_JSON))


def _api_error(req: Request, status: int, message: str) -> Response:
    headers = dict(_JSON)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="spotify"'
    return Response(status, _dump({"error": {"status": status, "message": message}}), headers)


def _oauth_error(req: Request, status: int, message: str) -> Response:
    return Response(
        status,
        _dump({"error": message.replace(" ", "_").lower(), "error_description": message}),
        dict(_JSON),
    )


def _cdn_error(req: Request, status: int, message: str) -> Response:
    return Response(
        status, f"<html><body>{message}</body></html>".encode(), {"Content-Type": "text/html"}
    )
