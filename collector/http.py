"""The one HTTP layer every client uses: the single seam where bytes leave the process.

An ``HttpClient`` owns every request default for one service: User-Agent with contact,
connect/read timeouts, the pacing limiter, the retry policy (tenacity drives the loop,
:mod:`sleeve.collector.retry` decides the waits), redirect limit and streamed size caps.
Request headers are never logged (they may carry a bearer token); errors name the URL, the
status and a short ``reason`` code that harvests count by.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from sleeve.collector.ratelimit import RateLimiter
from sleeve.collector.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from sleeve.errors import (
    ForbiddenError,
    PermanentRemoteError,
    RateLimitedError,
    RemoteError,
    TransientRemoteError,
)
from sleeve.settings import Settings

log = logging.getLogger("sleeve.http")

MAX_REDIRECTS = 5  # CAA needs two hops (coverartarchive -> archive.org -> storage node)
_CHUNK = 64 * 1024
_BAD_BODY_RETRIES = 2  # a malformed body is retried less than an outage


@dataclass(frozen=True)
class Fetched:
    url: str  # final URL after redirects
    status: int
    content_type: str
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TransientRemoteError(
                f"malformed JSON from {self.url}: {exc}", url=self.url, reason="bad-json"
            ) from None


class HttpClient:
    def __init__(
        self,
        service: str,
        *,
        user_agent: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        max_bytes: int = 5 * 1024 * 1024,
        sleep: Any = time.sleep,
    ) -> None:
        self.service = service
        self.user_agent = user_agent
        self.timeout = (connect_timeout, read_timeout)
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.max_bytes = max_bytes
        self._sleep = sleep
        self._local = threading.local()
        self.stats: dict[str, int] = {}
        self._stats_lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------
    def get_json(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return self._with_retries("GET", url, params, headers, None, parse_json=True)

    def get_bytes(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        return self._with_retries("GET", url, params, headers, max_bytes, parse_json=False)

    def post_form(
        self, url: str, data: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """One POST, never retried (not idempotent in general); 4xx/5xx raise."""
        return self._send("POST", url, None, headers, None, data=data)

    # -- internals ---------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.user_agent
            session.max_redirects = MAX_REDIRECTS
            session.trust_env = False  # no surprise proxies or .netrc credentials
            self._local.session = session
        return session

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def _with_retries(self, method, url, params, headers, max_bytes, *, parse_json):  # type: ignore[no-untyped-def]
        policy = self.policy

        def error_of(state: RetryCallState) -> BaseException | None:
            exc = state.outcome.exception() if state.outcome else None
            return exc.error if isinstance(exc, _Retry) else exc

        def stop(state: RetryCallState) -> bool:
            exc = error_of(state)
            if isinstance(exc, TransientRemoteError) and exc.reason == "bad-json":
                return state.attempt_number > _BAD_BODY_RETRIES
            return state.attempt_number > policy.max_retries

        def wait(state: RetryCallState) -> float:
            exc = error_of(state)
            status = getattr(exc, "status", None)
            retry_after = getattr(exc, "retry_after", None)
            seconds = policy.wait_for(state.attempt_number, status, retry_after)
            if status == 503 and self.limiter is not None:
                self.limiter.defer(seconds)  # the whole process backs off, not just this thread
            self._count(f"retry:{getattr(exc, 'reason', 'error')}")
            log.info("%s %s: %s; retrying in %.1fs", method, url, exc, seconds)
            return seconds

        retrying = Retrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        fetched = self._send(method, url, params, headers, max_bytes)
                        return fetched.json() if parse_json else fetched
                    except TransientRemoteError as exc:
                        if isinstance(exc, RateLimitedError) or policy.exceeds_cap(
                            getattr(exc, "retry_after", None)
                        ):
                            raise _as_rate_limited(exc) from None
                        raise _Retry(exc) from None
        except _Retry as wrapped:
            self._count(f"gave-up:{wrapped.error.reason}")
            raise wrapped.error from wrapped.error.__cause__
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method, url, params, headers, max_bytes, data=None) -> Fetched:  # type: ignore[no-untyped-def]
        if self.limiter is not None:
            self.limiter.acquire()
        self._count("requests")
        cap = self.max_bytes if max_bytes is None else max_bytes
        try:
            resp = self._session().request(
                method,
                url,
                params=params,
                headers=dict(headers or {}),
                data=data,
                timeout=self.timeout,
                stream=True,
                allow_redirects=True,
            )
        except requests.TooManyRedirects:
            raise PermanentRemoteError(
                f"more than {MAX_REDIRECTS} redirects from {url}", url=url, reason="redirect-loop"
            ) from None
        except requests.Timeout as exc:
            raise TransientRemoteError(f"timed out: {url}", url=url, reason="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransientRemoteError(
                f"connection failed: {url}", url=url, reason="connection"
            ) from exc
        except requests.RequestException as exc:
            raise PermanentRemoteError(
                f"bad request {url}: {exc}", url=url, reason="request"
            ) from exc
        with resp:
            status = resp.status_code
            if status >= 400:
                raise _status_error(resp, url)
            body = _read_capped(resp, url, cap, deadline=self.timeout[1] * 4)
            return Fetched(
                url=resp.url,
                status=status,
                content_type=resp.headers.get("Content-Type", ""),
                content=body,
                headers=dict(resp.headers),
            )


class _Retry(Exception):
    """Internal wrapper: tenacity retries exactly these."""

    def __init__(self, error: RemoteError) -> None:
        self.error = error


def _as_rate_limited(exc: TransientRemoteError) -> RateLimitedError:
    if isinstance(exc, RateLimitedError):
        return exc
    return RateLimitedError(
        f"{exc.url} asked us to wait {getattr(exc, 'retry_after', 0):.0f}s (over the cap)",
        url=exc.url,
        retry_after=getattr(exc, "retry_after", None),
    )


def _status_error(resp: requests.Response, url: str) -> RemoteError:
    status = resp.status_code
    try:
        snippet = resp.raw.read(2048, decode_content=True).decode("utf-8", "replace")
    except Exception:  # the body of an error page is only a hint
        snippet = ""
    message = f"HTTP {status} from {url}"
    detail = _error_message(snippet)
    if detail:
        message += f": {detail}"
    if status in RETRY_STATUSES:
        err = TransientRemoteError(message, url=url, status=status, reason=f"http-{status}")
        err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))  # type: ignore[attr-defined]
        return err
    if status == 403:
        return ForbiddenError(message, url=url, status=status, reason="http-403")
    return PermanentRemoteError(message, url=url, status=status, reason=f"http-{status}")


def _error_message(body: str) -> str:
    """The service's own error text (MusicBrainz, Spotify and OAuth shapes), else ''."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            return str(err.get("message", ""))[:200]
        if isinstance(err, str):
            desc = payload.get("error_description")
            return f"{err} ({desc})"[:200] if desc else err[:200]
    return ""


def _read_capped(resp: requests.Response, url: str, cap: int, deadline: float) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > cap:
        raise PermanentRemoteError(
            f"{url} is {int(length)} bytes, over the {cap}-byte cap", url=url, reason="too-large"
        )
    chunks: list[bytes] = []
    total = 0
    started = time.monotonic()
    try:
        for chunk in resp.iter_content(_CHUNK):
            total += len(chunk)
            if total > cap:
                raise PermanentRemoteError(
                    f"{url} exceeded the {cap}-byte cap", url=url, reason="too-large"
                )
            if time.monotonic() - started > deadline:  # a trickling body never ends otherwise
                raise TransientRemoteError(f"body too slow: {url}", url=url, reason="timeout")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise TransientRemoteError(
            f"body cut short: {url}", url=url, reason="truncated-body"
        ) from exc
    return b"".join(chunks)


def http_client(
    settings: Settings, service: str, *, limiter: RateLimiter | None = None
) -> HttpClient:
    """The client for ``service`` (musicbrainz | coverart | spotify | web) from settings."""
    policy = RetryPolicy(
        # someone is waiting on a one-off URL (predict, the app): fail fast rather than for ~30 s
        max_retries=min(settings.max_retries, 2) if service == "web" else settings.max_retries,
        backoff_base=settings.backoff_base,
        backoff_cap=settings.backoff_cap,
        retry_after_cap=(
            settings.spotify_retry_after_cap if service == "spotify" else settings.retry_after_cap
        ),
        min_wait_on_throttle=settings.backoff_base,
    )
    max_bytes = settings.max_json_bytes
    if service in {"coverart", "web"}:
        max_bytes = settings.max_image_bytes
    return HttpClient(
        service,
        user_agent=settings.user_agent,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        policy=policy,
        limiter=limiter,
        max_bytes=max_bytes,
    )
