"""``FakeServices``: the fake MusicBrainz, Cover Art Archive and archive.org hosts, together.

    with FakeServices(catalogue, mb_latency=0.1, enforce_rate=1.0) as fx:
        requests.get(f"{fx.musicbrainz_url}/release-group", params={...}, headers={...})
        fx.faults.add("coverart", r"/front", "status", status=503, retry_after="2")
        fx.requests          # RequestLog of (service, time, method, target, headers, status)

Each service is its own ThreadingHTTPServer on 127.0.0.1 with an ephemeral port, so the
collector follows real cross-host redirects (CAA -> archive -> archive node).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.coverart_app import ArchiveApp, CoverArtApp, CoverArtOptions
from sleeve.fakes.faults import POST_FAULTS, PRE_FAULTS, FaultRegistry, post_transform
from sleeve.fakes.faults import pre_response as fault_response
from sleeve.fakes.http import Request, RequestLog, Response, ServiceServer
from sleeve.fakes.musicbrainz_app import MusicBrainzApp, MusicBrainzOptions


class App(Protocol):
    service: str

    def gate(self, req: Request) -> Response | None: ...
    def handle(self, req: Request) -> Response: ...
    def error(self, req: Request, status: int, message: str) -> Response: ...
    def latency(self, req: Request, resp: Response) -> float: ...


def make_dispatch(
    app: App, faults: FaultRegistry, extra_headers: dict[str, str] | None = None
) -> Callable[[Request], Response]:
    """Gate (UA, rate) -> armed fault -> the service itself -> post-fault -> latency."""

    def dispatch(req: Request) -> Response:
        resp = app.gate(req)
        if resp is None:
            rule = faults.take(app.service, req.target)
            if rule is not None and rule.fault in PRE_FAULTS:
                resp = fault_response(rule, req, app.error)
            if resp is None:
                resp = app.handle(req)
                if rule is not None and rule.fault in POST_FAULTS:
                    resp = post_transform(rule, resp)
        if extra_headers and not resp.drop:
            for k, v in extra_headers.items():
                resp.headers.setdefault(k, v)
        resp.delay += app.latency(req, resp)
        return resp

    return dispatch


class FakeServices:
    """Start the three fake hosts for ``catalogue``; a context manager.

    Options: ``mb_latency`` (s per MB response), ``cover_latency`` (s per image response),
    ``enforce_rate`` (MB requests/s per client IP, None = off), ``rate_tolerance`` (s, 0.02),
    ``ua_policy`` ("403" | "drop" | "off"), ``blocked_user_agents`` (UA prefixes treated as
    generic), ``merged`` (extra old->new MBIDs on top of ``catalogue.merged``), ``host``.
    """

    def __init__(
        self,
        catalogue: FakeCatalogue,
        *,
        mb_latency: float = 0.0,
        cover_latency: float = 0.0,
        enforce_rate: float | None = None,
        rate_tolerance: float = 0.02,
        ua_policy: str = "403",
        blocked_user_agents: tuple[str, ...] | None = None,
        merged: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if ua_policy not in ("403", "drop", "off"):
            raise ValueError(f"ua_policy must be '403', 'drop' or 'off', not {ua_policy!r}")
        self.catalogue = catalogue
        self.requests = RequestLog()
        self.faults = FaultRegistry()
        mb_opt = MusicBrainzOptions(
            latency=mb_latency,
            enforce_rate=enforce_rate,
            rate_tolerance=rate_tolerance,
            ua_policy=ua_policy,
            merged=dict(merged or {}),
        )
        if blocked_user_agents is not None:
            mb_opt.blocked_user_agents = tuple(blocked_user_agents)
        cover_opt = CoverArtOptions(cover_latency=cover_latency)
        self.musicbrainz = MusicBrainzApp(catalogue, mb_opt)
        self.coverart = CoverArtApp(catalogue, cover_opt)
        self.archive = ArchiveApp(catalogue, cover_opt)
        self._servers = [
            ServiceServer(
                "musicbrainz", make_dispatch(self.musicbrainz, self.faults), self.requests, host
            ),
            ServiceServer(
                "coverart",
                make_dispatch(self.coverart, self.faults, {"Access-Control-Allow-Origin": "*"}),
                self.requests,
                host,
            ),
            ServiceServer("archive", make_dispatch(self.archive, self.faults), self.requests, host),
        ]
        self.coverart.archive_url = self.archive_url
        self.archive.coverart_url = self.coverart_url
        self._started = False

    # -- addresses ---------------------------------------------------------------------------
    @property
    def musicbrainz_url(self) -> str:
        """Base of the WS/2 API, e.g. ``http://127.0.0.1:PORT/ws/2``."""
        return f"{self._servers[0].base_url}/ws/2"

    @property
    def coverart_url(self) -> str:
        return self._servers[1].base_url

    @property
    def archive_url(self) -> str:
        return self._servers[2].base_url

    def env(self) -> dict[str, str]:
        """Environment variables that point a subprocess's collector at these fakes."""
        return {"MUSICBRAINZ_URL": self.musicbrainz_url, "COVERART_URL": self.coverart_url}

    def bad_art(self) -> dict[str, str]:
        """Release MBID -> bad-art kind for every release whose image files are broken."""
        return self.catalogue.bad_art

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeServices:
        if not self._started:
            for s in self._servers:
                s.start()
            self._started = True
        return self

    def stop(self) -> None:
        for s in self._servers:
            s.stop()
        self._started = False

    def __enter__(self) -> FakeServices:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeServices(mb={self.musicbrainz_url}, caa={self.coverart_url})"


def start_services(catalogue: FakeCatalogue, **options: Any) -> FakeServices:
    """Start and return services without a ``with`` block (call ``.stop()`` yourself)."""
    return FakeServices(catalogue, **options).start()
