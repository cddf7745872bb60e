"""The one HTTP layer every client uses: the single seam where bytes leave the process.

An ``HttpClient`` owns every request default for one service: User-Agent with contact,
connect/read timeouts, one deadline per request attempt (``SLEEVE_REQUEST_DEADLINE``: connect
and every socket read wait at most that long, and the body stops when it passes), the pacing
limiter, the retry policy (tenacity drives the loop, :mod:`sleeve.collector.retry` decides the
waits), redirect limit and streamed size caps. Request headers are never logged (they may carry
a bearer token); errors name the URL, the status and a short ``reason`` code that harvests
count by. A client for user-supplied URLs (``untrusted``) also refuses non-public addresses
(:mod:`sleeve.collector.netguard`) and never quotes a response body in its errors.
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
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from sleeve.collector.netguard import BlockedAddressError, PublicOnlyAdapter, Refusal, refusal
from sleeve.collector.ratelimit import Pacer
from sleeve.collector.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from sleeve.core.errors import (
    ForbiddenError,
    PermanentRemoteError,
    RateLimitedError,
    RemoteError,
    TransientRemoteError,
)
from sleeve.core.settings import Settings

log = logging.getLogger("sleeve.http")

MAX_REDIRECTS = 5  # CAA needs two hops (coverartarchive -> archive.org -> storage node)
_CHUNK = 64 * 1024
_BAD_BODY_RETRIES = 2  # a malformed body is retried less than an outage
_SLOW_BODY_RETRIES = 1  # a body slower than the deadline gets one more try, not five


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
        limiter: Pacer | None = None,
        max_bytes: int = 5 * 1024 * 1024,
        sleep: Any = time.sleep,
        deadline: float = 30.0,
        untrusted: bool = False,
        refuse: Refusal | None = None,
    ) -> None:
        """``deadline``: seconds one attempt may take from connect to the body's last byte (the
        connect and each read while headers arrive are capped at it; the body is cut at it).
        ``untrusted``: URLs come from a user; errors never quote the body. ``refuse``: which
        addresses to refuse (None: no address guard; see :mod:`sleeve.collector.netguard`)."""
        self.service = service
        self.user_agent = user_agent
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.untrusted = untrusted
        self.refuse = refuse
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
            if self.refuse is not None:
                adapter = PublicOnlyAdapter(self.refuse)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
            self._local.session = session
        return session

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def _with_retries(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        max_bytes: int | None,
        *,
        parse_json: bool,
    ) -> Any:
        policy = self.policy

        def error_of(state: RetryCallState) -> BaseException | None:
            exc = state.outcome.exception() if state.outcome else None
            return exc.error if isinstance(exc, _Retry) else exc

        def stop(state: RetryCallState) -> bool:
            exc = error_of(state)
            if isinstance(exc, TransientRemoteError) and exc.reason == "bad-json":
                return state.attempt_number > _BAD_BODY_RETRIES
            if isinstance(exc, TransientRemoteError) and exc.reason == "slow-body":
                return state.attempt_number > min(_SLOW_BODY_RETRIES, policy.max_retries)
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

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        max_bytes: int | None,
        data: Mapping[str, str] | None = None,
    ) -> Fetched:
        if self.limiter is not None:
            self.limiter.acquire()
        self._count("requests")
        cap = self.max_bytes if max_bytes is None else max_bytes
        connect_timeout, read_timeout = self.timeout
        ends = time.monotonic() + self.deadline
        try:
            resp = self._session().request(
                method,
                url,
                params=params,
                headers=dict(headers or {}),
                data=data,
                timeout=(min(connect_timeout, self.deadline), min(read_timeout, self.deadline)),
                stream=True,
                allow_redirects=True,
            )
        except BlockedAddressError as exc:  # raised where the socket is made, on any hop
            raise BlockedAddressError(f"refused {url}: {exc}", url=url) from None
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
                raise _status_error(resp, url, quote_body=not self.untrusted)
            body = _read_capped(resp, url, cap, ends=ends, read_timeout=read_timeout)
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


def _status_error(resp: requests.Response, url: str, *, quote_body: bool = True) -> RemoteError:
    """The error for a 4xx/5xx; ``quote_body`` adds the service's own error text (never for
    user-supplied URLs: the body of an arbitrary server is not ours to repeat)."""
    status = resp.status_code
    snippet = ""
    if quote_body:
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
        err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
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


def _read_capped(
    resp: requests.Response, url: str, cap: int, *, ends: float, read_timeout: float
) -> bytes:
    """The body, refused when over ``cap`` bytes or unfinished at ``ends`` (monotonic time).

    Each socket read waits at most until the deadline and returns what has arrived
    (``read1``), so a body trickling a few bytes at a time stops at the deadline rather than
    when a 64 KiB buffer fills.
    """
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > cap:
        raise PermanentRemoteError(
            f"{url} is {int(length)} bytes, over the {cap}-byte cap", url=url, reason="too-large"
        )
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            remaining = ends - time.monotonic()
            if remaining <= 0:
                raise _too_slow(url)
            _set_read_timeout(resp, min(read_timeout, remaining))
            try:
                chunk = resp.raw.read1(_CHUNK, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError:
                if time.monotonic() >= ends:
                    raise _too_slow(url) from None
                raise TransientRemoteError(f"timed out: {url}", url=url, reason="timeout") from None
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise PermanentRemoteError(
                    f"{url} exceeded the {cap}-byte cap", url=url, reason="too-large"
                )
            chunks.append(chunk)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        raise TransientRemoteError(
            f"body cut short: {url}", url=url, reason="truncated-body"
        ) from exc
    return b"".join(chunks)


def _too_slow(url: str) -> TransientRemoteError:
    return TransientRemoteError(
        f"body too slow: {url} (over the request deadline, SLEEVE_REQUEST_DEADLINE)",
        url=url,
        reason="slow-body",
    )


def _set_read_timeout(resp: requests.Response, seconds: float) -> None:
    """Bound the next socket read (urllib3 resets the timeout when the connection is reused)."""
    sock = getattr(getattr(resp.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def http_client(
    settings: Settings,
    service: str,
    *,
    limiter: Pacer | None = None,
    untrusted: bool = False,
) -> HttpClient:
    """The client for ``service`` (musicbrainz | coverart | spotify | web) from settings.

    ``untrusted``: the URLs come from a user (predict, the app, the Python API): non-public
    addresses are refused unless ``settings.allow_private_urls``, and errors quote no body.
    """
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
        deadline=settings.request_deadline,
        untrusted=untrusted,
        refuse=refusal if untrusted and not settings.allow_private_urls else None,
    )
