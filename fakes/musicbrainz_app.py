"""The fake MusicBrainz WS/2 (JSON only), served from a :class:`FakeCatalogue`.

Routes (each also with a trailing slash): search ``/ws/2/{release-group,release,artist}?query=``,
lookup ``/ws/2/{release-group,release,artist,genre}/<mbid>?inc=``, browse
``/ws/2/release-group?artist=``, ``/ws/2/release?release-group=`` (or ``artist=``), and
``/ws/2/genre/all``. Behaviour follows shared/docs/musicbrainz.md; deliberate simplifications:

* XML is not spoken: a request that does not ask for JSON (``fmt=json`` or
  ``Accept: application/json``; ``fmt`` wins) gets ``406`` with MB's XML error body, which is
  what real MB sends for an unknown ``fmt`` and what an XML-only client should fail on.
* Tag search compares whole tag strings (see lucene.py); Solr syntax errors answer
  ``400 {"error": {"code": 400, "message": ...}}`` (the search server's own error form).
* The rate limiter (``enforce_rate``) keys on the client IP and counts only *accepted*
  requests (like nginx ``limit_req``): a request arriving less than ``1/rate - tolerance``
  seconds after the last accepted one gets ``503`` + ``Retry-After: 0`` and the JSON
  ``{"error": "Your requests are exceeding the allowable rate limit. ..."}`` (no ``help``).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sleeve.fakes import mbjson
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.http import Request, Response
from sleeve.fakes.lucene import QuerySyntaxError, normalise, parse

HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
RATE_LIMIT_MESSAGE = (
    "Your requests are exceeding the allowable rate limit. Please see "
    "http://wiki.musicbrainz.org/XMLWebService for more information."
)
GENERIC_USER_AGENTS = (
    "python-requests/",
    "python-urllib/",
    "Python-urllib/",
    "Java/",
    "curl/",
    "Wget/",
    "Go-http-client/",
    "okhttp/",
    "axios/",
    "node-fetch/",
)
XML_406 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<error><text>Invalid format. Either set an '
    b"Accept header (recognized mime types are application/json and application/xml), or "
    b"include a fmt= argument in the query string (valid values for fmt are json and "
    b"xml).</text><text>For usage, please see: https://musicbrainz.org/development/mmd"
    b"</text></error>\n"
)
_MBID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_COMMON_INCS = {
    "aliases",
    "annotation",
    "tags",
    "user-tags",
    "genres",
    "user-genres",
    "ratings",
    "user-ratings",
    "artist-rels",
    "label-rels",
    "recording-rels",
    "release-rels",
    "release-group-rels",
    "url-rels",
    "work-rels",
    "area-rels",
    "event-rels",
    "instrument-rels",
    "place-rels",
    "series-rels",
}
LOOKUP_INCS: dict[str, set[str]] = {
    "release": _COMMON_INCS
    | {
        "artists",
        "labels",
        "recordings",
        "release-groups",
        "collections",
        "user-collections",
        "artist-credits",
        "discids",
        "media",
        "recording-level-rels",
        "release-group-level-rels",
        "work-level-rels",
    },
    "release-group": _COMMON_INCS | {"artists", "releases", "artist-credits"},
    "artist": _COMMON_INCS
    | {"recordings", "releases", "release-groups", "works", "media", "discids", "various-artists"},
    "genre": set(),
}
BROWSE_INCS: dict[str, set[str]] = {
    "release-group": _COMMON_INCS | {"artist-credits", "release-group-status"},
    "release": LOOKUP_INCS["release"] - {"release-groups"} | {"release-groups"},
}
PRIMARY_TYPES = {"album", "single", "ep", "broadcast", "other"}


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class MusicBrainzOptions:
    latency: float = 0.0  # seconds added to every response (benchmarks)
    enforce_rate: float | None = None  # requests per second per client IP; None = unlimited
    rate_tolerance: float = 0.02
    ua_policy: str = "403"  # "403" | "drop" (generic UAs get a reset) | "off"
    blocked_user_agents: tuple[str, ...] = GENERIC_USER_AGENTS
    merged: dict[str, str] = field(default_factory=dict)  # extra old MBID -> new MBID


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


class MusicBrainzApp:
    service = "musicbrainz"

    def __init__(self, catalogue: FakeCatalogue, options: MusicBrainzOptions) -> None:
        self.cat = catalogue
        self.opt = options
        self.merged = {**catalogue.merged, **options.merged}
        self._last_accepted: dict[str, float] = {}
        self._rate_lock = threading.Lock()
        self._genre_by_id = {catalogue.genre_id(n): n for n in catalogue.genre_names}

    # -- gates -------------------------------------------------------------------------------
    def gate(self, req: Request) -> Response | None:
        """User-Agent check, then the per-IP rate limit (MB's own order, doc §2)."""
        if self.opt.ua_policy != "off":
            ua = (req.headers.get("User-Agent") or "").strip()
            generic = any(ua.startswith(p) for p in self.opt.blocked_user_agents)
            if generic and self.opt.ua_policy == "drop":
                return Response(0, drop=True)
            if not ua or generic or "/" not in ua:
                return self.error(
                    req,
                    403,
                    "Please provide a meaningful User-Agent header "
                    "(application name, version and contact).",
                )
        if self.opt.enforce_rate:
            interval = 1.0 / self.opt.enforce_rate
            with self._rate_lock:
                last = self._last_accepted.get(req.client)
                if last is not None and req.arrived - last < interval - self.opt.rate_tolerance:
                    return _json(503, {"error": RATE_LIMIT_MESSAGE}, {"Retry-After": "0"})
                self._last_accepted[req.client] = req.arrived
        return None

    def error(self, req: Request, status: int, message: str) -> Response:
        return _json(status, {"error": message, "help": HELP})

    def latency(self, req: Request, resp: Response) -> float:
        return self.opt.latency

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        try:
            return self._route(req)
        except _Error as e:
            return self.error(req, e.status, e.message)

    def _route(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            raise _Error(405, f"{req.method} is not allowed on this endpoint.")
        fmt = req.arg("fmt")
        wants_json = fmt == "json" or (
            fmt is None and "application/json" in (req.headers.get("Accept") or "")
        )
        if not wants_json:
            return Response(406, XML_406, {"Content-Type": "application/xml; charset=utf-8"})
        if not req.path.startswith("/ws/2/"):
            raise _Error(404, "Not Found")
        parts = [p for p in req.path[len("/ws/2/") :].split("/") if p]
        if not parts or len(parts) > 2:
            raise _Error(404, "Not Found")
        entity = parts[0]
        if entity not in LOOKUP_INCS:
            raise _Error(404, "Not Found")
        if len(parts) == 2:
            if entity == "genre" and parts[1] == "all":
                limit, offset = self._paging(req, browse=True)
                return _json(200, mbjson.genre_list_json(self.cat, limit, offset))
            return self._lookup(req, entity, parts[1])
        if entity == "genre":
            if req.arg("query") is not None:
                raise _Error(501, "This hasn't been implemented yet.")
            raise _Error(404, "Not Found")
        if "query" in req.query:
            return self._search(req, entity)
        return self._browse(req, entity)

    def _incs(self, req: Request, allowed: set[str], entity: str) -> set[str]:
        values = req.query.get("inc", [])
        if len(values) > 1:
            raise _Error(
                400,
                "Inc arguments must be combined with a space (+ or %20), but you "
                "provided multiple parameters",
            )
        # "+" arrives as a space (form encoding) or, from clients that encode it, as "%2B".
        incs = set(re.split(r"[\s+]+", values[0].strip())) - {""} if values else set()
        for inc in sorted(incs):
            if inc not in allowed:
                raise _Error(400, f"{inc} is not a valid inc parameter for the {entity} resource.")
            if inc.startswith("user-"):
                raise _Error(401, "You are not authorized to access this resource.")
        return incs

    def _paging(self, req: Request, browse: bool) -> tuple[int, int]:
        """Browse: default 25, > 100 clamped to 100. Search: outside 1..100 becomes 25."""
        try:
            limit = int(req.arg("limit") or 25)
            offset = int(req.arg("offset") or 0)
        except ValueError:
            raise _Error(
                400, "The 'limit' and 'offset' parameters must be positive integers"
            ) from None
        if offset < 0:
            raise _Error(400, "The 'limit' and 'offset' parameters must be positive integers")
        if limit < 1 or (limit > 100 and not browse):
            limit = 25
        return min(limit, 100), offset

    # -- lookups -----------------------------------------------------------------------------
    def _lookup(self, req: Request, entity: str, raw_id: str) -> Response:
        if not _MBID.match(raw_id):
            raise _Error(400, "Invalid mbid.")
        incs = self._incs(req, LOOKUP_INCS[entity], entity)
        mbid = raw_id.lower()
        new = self.merged.get(mbid)
        body = self._render(entity, new or mbid, incs)
        if new is None:
            return _json(200, body)
        # Merged: 301 to the new MBID with the same query string; the body is still rendered.
        query = req.target.partition("?")[2]
        loc = f"{req.base_url}/ws/2/{entity}/{new}" + (f"?{query}" if query else "")
        return _json(301, body, {"Location": loc})

    def _render(self, entity: str, mbid: str, incs: set[str]) -> dict[str, Any]:
        cat = self.cat
        if entity == "release-group" and mbid in cat.release_groups:
            return mbjson.release_group_json(cat, cat.release_groups[mbid], incs)
        if entity == "release" and mbid in cat.releases:
            return mbjson.release_json(cat, cat.releases[mbid], incs)
        if entity == "artist" and mbid in cat.artists:
            a = cat.artists[mbid]
            out = mbjson.artist_json(cat, a, incs)
            if "release-groups" in incs:
                out["release-groups"] = [
                    mbjson.release_group_json(cat, rg, set())
                    for rg in cat.release_groups.values()
                    if any(c.artist_id == a.id for c in rg.credits)
                ][:25]
            return out
        if entity == "genre" and mbid in self._genre_by_id:
            return {"id": mbid, "name": self._genre_by_id[mbid], "disambiguation": ""}
        raise _Error(404, "Not Found")

    # -- search ------------------------------------------------------------------------------
    def _search(self, req: Request, entity: str) -> Response:
        query = req.arg("query") or ""
        if not query.strip():
            raise _Error(
                400,
                "You submitted a blank search query. You must include a non-blank "
                "'query=' parameter with your search.",
            )
        limit, offset = self._paging(req, browse=False)
        try:
            if entity == "artist":
                hits = self._search_artists(query)
            else:
                hits = self.cat.search(entity, query)
        except QuerySyntaxError as exc:
            return _json(400, {"error": {"code": 400, "message": str(exc)}})
        best = max((s for _, s in hits), default=0.0)
        page = hits[offset : offset + limit]
        items = []
        for item_id, raw in page:
            score = 100 if best <= 0 else max(1, round(100 * raw / best))
            if entity == "release-group":
                items.append(
                    mbjson.release_group_search_json(
                        self.cat, self.cat.release_groups[item_id], score
                    )
                )
            elif entity == "release":
                items.append(
                    mbjson.release_search_json(self.cat, self.cat.releases[item_id], score)
                )
            else:
                a = self.cat.artists[item_id]
                items.append(
                    {
                        **mbjson.artist_json(self.cat, a, set(), search=True),
                        "score": score,
                        "tags": mbjson.tags_json(a.tags),
                    }
                )
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        plural = {"release-group": "release-groups", "release": "releases"}.get(entity, "artists")
        return _json(200, {"created": created, "count": len(hits), "offset": offset, plural: items})

    def _search_artists(self, query: str) -> list[tuple[str, float]]:
        node = parse(query)
        hits = []
        for a in self.cat.artists.values():
            doc = {
                "artist": {normalise(a.name): 1.0},
                "tag": {normalise(t.name): float(t.count) for t in a.tags},
                "arid": {a.id: 1.0},
                "country": {(a.country or "").lower(): 0.0},
            }
            s = node.score(doc)
            if s is not None:
                hits.append((a.id, s))
        return sorted(hits, key=lambda h: (-h[1], h[0]))

    # -- browse ------------------------------------------------------------------------------
    def _browse(self, req: Request, entity: str) -> Response:
        cat = self.cat
        if entity not in BROWSE_INCS:
            raise _Error(400, f"Browsing {entity} is not supported by this fake.")
        incs = self._incs(req, BROWSE_INCS[entity], entity)
        limit, offset = self._paging(req, browse=True)
        links = {k: v for k in ("artist", "release-group") if (v := req.arg(k))}
        if not links:
            raise _Error(400, "You must specify a linked entity or a search query.")
        for v in links.values():
            if not _MBID.match(v):
                raise _Error(400, "Invalid mbid.")
        artist = cat.resolve(links["artist"].lower()) if "artist" in links else None
        rg_id = cat.resolve(links["release-group"].lower()) if "release-group" in links else None
        # A browse by a linked entity that does not exist is a 404, like a lookup.
        if (artist is not None and artist not in cat.artists) or (
            rg_id is not None and rg_id not in cat.release_groups
        ):
            raise _Error(404, "Not Found")
        types = {t for t in (req.arg("type") or "").lower().split("|") if t}
        if types - PRIMARY_TYPES:
            raise _Error(400, f"{sorted(types - PRIMARY_TYPES)[0]} is not a valid type")
        if entity == "release-group" and rg_id is not None:
            raise _Error(400, "release-group is not a valid link for release-group browse.")
        groups = [
            rg
            for rg in cat.release_groups.values()
            if (artist is None or any(c.artist_id == artist for c in rg.credits))
            and (rg_id is None or rg.id == rg_id)
            and (not types or rg.primary_type.lower() in types)
        ]
        if entity == "release-group":
            page = groups[offset : offset + limit]
            total = len(groups)
            items = [mbjson.release_group_json(cat, rg, incs) for rg in page]
        else:
            releases = [r for rg in groups for r in cat.iter_releases(rg.id)]
            total = len(releases)
            items = [mbjson.release_json(cat, r, incs) for r in releases[offset : offset + limit]]
        return _json(
            200,
            {
                f"{entity}-count": total,
                f"{entity}-offset": offset,
                f"{entity}s": items,
            },
        )
