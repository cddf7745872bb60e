"""Fault injection for the fake services: what breaks, where, and how many times.

``FaultRegistry.add(service, path_regex, fault, times=1, **params)`` arms a rule. A request
matches when ``service`` is its service ("musicbrainz", "coverart", "archive", or "*" for any)
and ``re.search(path_regex, path_and_query)`` succeeds; each match uses one of ``times``
(``None`` = forever) and the first armed matching rule wins. Faults are checked after the
MusicBrainz User-Agent and rate-limit gates (a request those reject never reaches a fault).

Fault kinds and their params:

* ``status``: answer ``status`` (default 503) with ``body`` (default: the service's own error
  page, MB JSON for musicbrainz, HTML otherwise); ``retry_after`` adds a Retry-After header.
* ``slow``: sleep ``delay`` seconds (default 2.0), then answer normally.
* ``slow-body``: answer normally but trickle the body, ``chunk`` bytes (default 256) every
  ``interval`` seconds (default 0.05).
* ``drop``: close the connection (TCP reset) without sending anything.
* ``truncate-json``: send the first half of the real body; with ``chunked=False`` (default) the
  Content-Length still announces the full body, with ``chunked=True`` the chunked stream stops
  without its terminating chunk. Then the connection is closed.
* ``malformed-json``: 200 with a body that is not valid JSON.
* ``missing-fields``: drop ``fields`` (default ``("id", "tags")``) from every item of the
  response's list(s) and from the top-level object.
* ``html-image`` / ``json-image``: 200, ``Content-Type: image/jpeg``, an HTML / JSON body.
* ``corrupt-jpeg``: a real JPEG's headers followed by random bytes (Pillow reads the size,
  decoding fails).
* ``truncated-jpeg``: the first ``fraction`` (default 0.4) of a real JPEG, honest length.
* ``bomb``: a small PNG (about 100 kB) declaring ``width`` x ``height`` (default 30000 x 30000)
  1-bit pixels; a complete, valid file of compressed zeros.
* ``tiny-image``: an 8 x 8 JPEG.
* ``huge-image``: a JPEG header then padding, ``size`` bytes in all (default 50 MB), streamed
  with an honest Content-Length (stops quietly when the client hangs up).
* ``redirect-loop``: 307 back to the same path+query (``mode="self"``, default) or alternating
  between it and the same target with ``loop=1`` added (``mode="ping-pong"``). Each redirect
  consumes one of ``times``: use ``times=None`` for an endless loop.
* ``not-found``: the service's own 404 (MB JSON ``Not Found``, CAA Werkzeug HTML page).
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PIL import Image

from sleeve.fakes.covers import cover_jpeg
from sleeve.fakes.http import Request, Response

SERVICES = ("musicbrainz", "coverart", "archive", "*")
# Faults that replace the response before the service handles the request.
PRE_FAULTS = (
    "status",
    "slow",
    "drop",
    "html-image",
    "json-image",
    "corrupt-jpeg",
    "truncated-jpeg",
    "bomb",
    "tiny-image",
    "huge-image",
    "redirect-loop",
    "not-found",
)
# Faults that alter the service's real response.
POST_FAULTS = ("slow-body", "truncate-json", "malformed-json", "missing-fields")
FAULT_KINDS = PRE_FAULTS + POST_FAULTS


@dataclass
class FaultRule:
    service: str
    pattern: re.Pattern[str]
    fault: str
    remaining: int | None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0  # how many requests this rule has been applied to


class FaultRegistry:
    """Thread-safe list of armed fault rules (see the module docstring)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self, service: str, path_regex: str, fault: str, times: int | None = 1, **params: Any
    ) -> FaultRule:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")
        rule = FaultRule(service, re.compile(path_regex), fault, times, dict(params))
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, service: str, target: str) -> FaultRule | None:
        """The first armed rule matching this request, with one use consumed."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or rule.service not in (service, "*"):
                    continue
                if rule.pattern.search(target):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    rule.hits += 1
                    return rule
        return None

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pending(self) -> list[FaultRule]:
        """Rules with uses left (``times=None`` rules are always pending)."""
        return [r for r in self.rules if r.remaining != 0]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


# -- payloads ---------------------------------------------------------------------------------
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Internet Archive: Item not available</title>"
    b"</head><body><h1>The item is not available due to issues with the item's "
    b"content.</h1></body></html>\n"
)
JSON_PAGE = b'{"error": "Item not found", "success": false}\n'


@lru_cache(maxsize=4)
def sample_jpeg() -> bytes:
    return cover_jpeg("jazz", 4242, 300)


def corrupt_jpeg() -> bytes:
    real = sample_jpeg()
    sos = real.find(b"\xff\xda")
    header_end = sos + 2 + int.from_bytes(real[sos + 2 : sos + 4], "big")
    rng = random.Random(1)
    return real[:header_end] + rng.randbytes(len(real) - header_end)


def truncated_jpeg(fraction: float = 0.4) -> bytes:
    real = sample_jpeg()
    return real[: int(len(real) * fraction)]


@lru_cache(maxsize=1)
def tiny_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


@lru_cache(maxsize=4)
def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` zeros: ~0.1 % of its raw size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    parts = []
    rows_per_block = max(1, (1 << 20) // len(row))
    done = 0
    while done < height:
        n = min(rows_per_block, height - done)
        parts.append(comp.compress(row * n))
        done += n
    parts.append(comp.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def _huge_body(size: int) -> Iterator[bytes]:
    head = sample_jpeg()[:2000]
    yield head
    left = size - len(head)
    block = b"\x00" * 65536
    while left > 0:
        n = min(left, len(block))
        yield block[:n]
        left -= n


def _image(body: bytes, ctype: str = "image/jpeg") -> Response:
    return Response(200, body, {"Content-Type": ctype})


def pre_response(rule: FaultRule, req: Request, error: Any) -> Response | None:
    """The response a pre-fault sends instead of the service's (None: answer normally).

    ``error(req, status, message)`` renders the service's own error response.
    """
    p = rule.params
    kind = rule.fault
    if kind == "slow":
        time.sleep(float(p.get("delay", 2.0)))
        return None
    if kind == "status":
        status = int(p.get("status", 503))
        resp = error(req, status, p.get("message", "Service Unavailable"))
        if "body" in p and p["body"] is not None:
            body = p["body"]
            resp = Response(
                status,
                body.encode() if isinstance(body, str) else body,
                {"Content-Type": p.get("content_type", "text/plain; charset=utf-8")},
            )
        if p.get("retry_after") is not None:
            resp.headers["Retry-After"] = str(p["retry_after"])
        return resp
    if kind == "drop":
        return Response(0, drop=True)
    if kind == "not-found":
        return error(req, 404, "Not Found")
    if kind == "redirect-loop":
        target = req.target
        if p.get("mode", "self") == "ping-pong":
            if re.search(r"[?&]loop=1(&|$)", target):
                target = re.sub(r"[?&]loop=1(?=&|$)", "", target)
            else:
                target += ("&" if "?" in target else "?") + "loop=1"
        loc = req.base_url + target
        return Response(
            307,
            f"See: {loc}\n".encode(),
            {"Location": loc, "Content-Type": "text/plain; charset=utf-8"},
        )
    if kind == "html-image":
        return _image(HTML_PAGE)
    if kind == "json-image":
        return _image(JSON_PAGE)
    if kind == "corrupt-jpeg":
        return _image(corrupt_jpeg())
    if kind == "truncated-jpeg":
        return _image(truncated_jpeg(float(p.get("fraction", 0.4))))
    if kind == "bomb":
        return _image(
            bomb_png(int(p.get("width", 30000)), int(p.get("height", 30000))), "image/png"
        )
    if kind == "tiny-image":
        return _image(tiny_jpeg())
    if kind == "huge-image":
        size = int(p.get("size", 50_000_000))
        return Response(200, _huge_body(size), {"Content-Type": "image/jpeg"}, content_length=size)
    return None


def _strip(obj: Any, fields: tuple[str, ...]) -> None:
    if isinstance(obj, dict):
        for f in fields:
            obj.pop(f, None)
        for v in obj.values():
            if isinstance(v, list):
                for item in v:
                    if isinstance(item, dict):
                        for f in fields:
                            item.pop(f, None)


def post_transform(rule: FaultRule, resp: Response) -> Response:
    """Alter the service's real response according to a post-fault."""
    p = rule.params
    body = resp.body if isinstance(resp.body, bytes) else b"".join(resp.body)
    kind = rule.fault
    if kind == "slow-body":
        chunk, interval = int(p.get("chunk", 256)), float(p.get("interval", 0.05))

        def trickle() -> Iterator[bytes]:
            for i in range(0, len(body), chunk):
                if i:
                    time.sleep(interval)
                yield body[i : i + chunk]

        return Response(resp.status, trickle(), resp.headers, content_length=len(body))
    if kind == "truncate-json":
        half = body[: len(body) // 2]
        if p.get("chunked", False):
            return Response(resp.status, half, resp.headers, chunked=True, unterminated=True)
        return Response(resp.status, half, resp.headers, content_length=len(body), close=True)
    if kind == "malformed-json":
        bad = b'{"created": "2026-05-01T10:00:00.000Z", "count": 1, "offset": 0, <html>'
        return Response(200, bad, {**resp.headers, "Content-Type": "application/json"})
    if kind == "missing-fields":
        try:
            data = json.loads(body)
        except ValueError:
            return resp
        _strip(data, tuple(p.get("fields", ("id", "tags"))))
        return Response(resp.status, json.dumps(data).encode(), resp.headers)
    return resp
