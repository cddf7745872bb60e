"""The HTTP plumbing shared by the fake services: request/response values, the request log and
a threaded loopback server that writes responses exactly as told (including the broken ones
fault injection asks for: lying Content-Length, unterminated chunked bodies, dropped sockets).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    service: str
    method: str
    target: str  # path + query exactly as received
    path: str
    query: dict[str, list[str]]
    headers: Message
    client: str
    arrived: float  # time.monotonic() when the request line was read
    base_url: str  # this server's http://127.0.0.1:PORT

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # announce this instead of len(body) (lies allowed)
    chunked: bool = False
    unterminated: bool = False  # chunked stream without its final 0-chunk
    close: bool = False  # send Connection: close and close after the body
    drop: bool = False  # send nothing, reset the connection
    delay: float = 0.0  # seconds to sleep before answering (latency knobs)


class RequestRecord(NamedTuple):
    service: str
    time: float  # monotonic arrival time
    method: str
    target: str  # path + query
    headers: dict[str, str]
    status: int | None  # None: the connection was dropped


class RequestLog:
    """Thread-safe, append-only log of every request the fakes answered (or dropped)."""

    def __init__(self) -> None:
        self._items: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def for_service(self, service: str) -> list[RequestRecord]:
        return [r for r in self.snapshot() if r.service == service]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __getitem__(self, i: int) -> RequestRecord:
        with self._lock:
            return self._items[i]


Dispatch = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    timeout = 30  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server: ServiceServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        arrived = time.monotonic()
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        req = Request(
            srv.service,
            self.command,
            self.path,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            self.headers,
            self.client_address[0],
            arrived,
            srv.base_url,
        )
        try:
            resp = srv.dispatch(req)
        except Exception as exc:  # a bug in a fake must still answer, like "Whoops. Our bad."
            resp = Response(
                500, f"fake server error: {exc!r}\n".encode(), {"Content-Type": "text/plain"}
            )
        # Logged before the answer is written, so a client that has its response can rely on
        # the log already holding it.
        srv.log.append(
            RequestRecord(
                srv.service,
                arrived,
                self.command,
                self.path,
                dict(self.headers.items()),
                None if resp.drop else resp.status,
            )
        )
        try:
            self._write(resp)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _serve

    def _write(self, resp: Response) -> int | None:
        if resp.delay:
            time.sleep(resp.delay)
        if resp.drop:
            # SO_LINGER 0 turns close() into a TCP reset: "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return None
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        body = resp.body
        chunked = resp.chunked or (not isinstance(body, bytes) and resp.content_length is None)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            # not chunked: the body is bytes, or the app gave its length
            n = resp.content_length if resp.content_length is not None else len(body)  # type: ignore[arg-type]
            self.send_header("Content-Length", str(n))
        if resp.close or resp.unterminated:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return resp.status
        pieces = [body] if isinstance(body, bytes) else body
        sent = 0
        try:
            for piece in pieces:
                if not piece:
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                sent += len(piece)
                self.wfile.flush()
            if chunked and not resp.unterminated:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if not chunked and resp.content_length is not None and sent != resp.content_length:
            self.close_connection = True  # the body lied about its length: end the stream
        return resp.status


class ServiceServer(ThreadingHTTPServer):
    """One fake service on 127.0.0.1 with an ephemeral port, served from a daemon thread."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(
        self,
        service: str,
        dispatch: Dispatch,
        log: RequestLog,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.service = service
        self.dispatch = dispatch
        self.log = log
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.socket.getsockname()[:2]  # server_address, typed str | bytes
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.service}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
