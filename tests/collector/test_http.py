"""The HTTP layer against a real loopback server with fail-once-then-succeed endpoints."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from sleeve.collector.http import HttpClient
from sleeve.collector.ratelimit import RateLimiter
from sleeve.collector.retry import RetryPolicy, parse_retry_after
from sleeve.core.errors import (
    ForbiddenError,
    PermanentRemoteError,
    RateLimitedError,
    TransientRemoteError,
)


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[Counter[str]] = Counter()
    arrivals: ClassVar[list[float]] = []
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        with self.lock:
            self.hits[path] += 1
            n = self.hits[path]
            self.arrivals.append(time.monotonic())
        if path == "/ok":
            self._send(200, json.dumps({"ua": self.headers.get("User-Agent")}).encode())
        elif path == "/fail-once":
            if n == 1:
                self._send(
                    503,
                    b'{"error": "Your requests are exceeding the allowable rate limit."}',
                    {"Retry-After": "0"},
                )
            else:
                self._send(200, b'{"ok": true}')
        elif path == "/throttled-long":
            self._send(429, b"", {"Retry-After": "9999"})
        elif path == "/always-500":
            self._send(500, b"Whoops. Our bad.")
        elif path == "/missing":
            self._send(404, b'{"error": "Not Found", "help": "For usage, please see: x"}')
        elif path == "/forbidden":
            self._send(403, b'{"error": {"status": 403, "message": "Forbidden"}}')
        elif path == "/loop":
            self._send(307, b"See: /loop", {"Location": "/loop"})
        elif path == "/redirect":
            self._send(307, b"", {"Location": "/ok"})
        elif path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"x" * 1024)
        elif path == "/huge-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(64):
                chunk = b"x" * 16384
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"{}")
        elif path == "/bad-json-once":
            self._send(200, b'{"truncated": ' if n == 1 else b'{"fine": 1}')
        elif path == "/bad-json-always":
            self._send(200, b"<html>not json</html>")
        elif path == "/cut-short":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"a": 1')
            self.wfile.flush()
            self.connection.close()
        else:
            self._send(404, b"")


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.hits = Counter()
    _Handler.arrivals = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client(**kw: object) -> HttpClient:
    policy = kw.pop("policy", RetryPolicy(max_retries=3, backoff_base=0.01, backoff_cap=0.05))
    return HttpClient(
        "test",
        user_agent="sleeve/0 ( tests@sleeve.invalid )",
        read_timeout=0.5,
        policy=policy,
        **kw,
    )


def test_user_agent_and_json(server: str) -> None:
    assert client().get_json(f"{server}/ok") == {"ua": "sleeve/0 ( tests@sleeve.invalid )"}


def test_503_is_retried_and_retry_after_zero_still_waits(server: str) -> None:
    sleeps: list[float] = []
    c = client(policy=RetryPolicy(max_retries=3, backoff_base=0.01, min_wait_on_throttle=0.25))
    c._sleep = sleeps.append  # record instead of sleeping
    assert c.get_json(f"{server}/fail-once") == {"ok": True}
    assert _Handler.hits["/fail-once"] == 2
    assert sleeps and sleeps[0] >= 0.25  # "Retry-After: 0" is not "hammer again now"


def test_retry_after_over_the_cap_stops_at_once(server: str) -> None:
    c = client(policy=RetryPolicy(max_retries=5, backoff_base=0.01, retry_after_cap=60))
    start = time.monotonic()
    with pytest.raises(RateLimitedError) as err:
        c.get_json(f"{server}/throttled-long")
    assert err.value.retry_after == 9999
    assert time.monotonic() - start < 1 and _Handler.hits["/throttled-long"] == 1


def test_persistent_5xx_gives_up_after_the_budget_keeping_the_cause(server: str) -> None:
    c = client()
    with pytest.raises(TransientRemoteError) as err:
        c.get_json(f"{server}/always-500")
    assert err.value.status == 500 and err.value.reason == "http-500"
    assert _Handler.hits["/always-500"] == 4  # the first try + max_retries=3
    assert c.stats["gave-up:http-500"] == 1


def test_client_errors_are_not_retried(server: str) -> None:
    with pytest.raises(PermanentRemoteError) as err:
        client().get_json(f"{server}/missing")
    assert err.value.status == 404 and "Not Found" in str(err.value)
    assert _Handler.hits["/missing"] == 1
    with pytest.raises(ForbiddenError, match="Forbidden"):
        client().get_json(f"{server}/forbidden")


def test_redirects_are_followed_but_loops_are_cut(server: str) -> None:
    assert client().get_bytes(f"{server}/redirect").url.endswith("/ok")
    with pytest.raises(PermanentRemoteError) as err:
        client().get_bytes(f"{server}/loop")
    assert err.value.reason == "redirect-loop"


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-chunked"])
def test_size_caps_hold_whether_or_not_the_length_is_declared(server: str, path: str) -> None:
    with pytest.raises(PermanentRemoteError) as err:
        client().get_bytes(f"{server}{path}", max_bytes=256 * 1024)
    assert err.value.reason == "too-large"


def test_read_timeouts_are_transient(server: str) -> None:
    with pytest.raises(TransientRemoteError) as err:
        client(policy=RetryPolicy(max_retries=1)).get_json(f"{server}/slow")
    assert err.value.reason == "timeout"


def test_malformed_json_is_retried_briefly(server: str) -> None:
    assert client().get_json(f"{server}/bad-json-once") == {"fine": 1}
    with pytest.raises(TransientRemoteError) as err:
        client().get_json(f"{server}/bad-json-always")
    assert err.value.reason == "bad-json" and _Handler.hits["/bad-json-always"] == 3


def test_a_body_cut_short_is_transient(server: str) -> None:
    with pytest.raises(TransientRemoteError) as err:
        client(policy=RetryPolicy(max_retries=1)).get_json(f"{server}/cut-short")
    assert err.value.reason in {"truncated-body", "connection"}


def test_limiter_spaces_requests_across_threads(server: str) -> None:
    rate = 5.0
    c = client(limiter=RateLimiter(rate))
    threads = [
        threading.Thread(target=lambda: [c.get_json(f"{server}/ok") for _ in range(4)])
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arrivals = sorted(_Handler.arrivals)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 12
    assert min(gaps) >= 1 / rate - 0.02  # arrival spacing, measured at the server


def test_limiter_with_a_fake_clock() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(1.0, clock=lambda: now[0], sleep=sleep, margin=0.0)
    for _ in range(3):
        limiter.acquire()
    assert slept == [1.0, 1.0]
    limiter.defer(5.0)  # the service said back off: everybody waits
    limiter.acquire()
    assert slept[-1] == pytest.approx(5.0)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("0") == 0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past
