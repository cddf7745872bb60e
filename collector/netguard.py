"""Refuse non-public addresses for URLs that a user, not the operator, supplied.

``predict URL``, the app's URL box and ``Classifier.predict(url)`` fetch whatever they are
given; without a guard they become a proxy into the host's own network (loopback services,
cloud metadata on link-local, the LAN). The guard sits where the socket is made: the host is
resolved once, *every* resolved address is checked, and the connection goes to an address
that was checked, so a DNS answer cannot change between the check and the connect
(rebinding) and every redirect hop, being a new connection, is checked again.

Service base URLs from settings (MusicBrainz, Cover Art Archive, Spotify) are operator
choices and are not guarded.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

from sleeve.core.errors import PermanentRemoteError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Refusal = Callable[[IPAddress], str | None]  # why an address is refused, None = allowed
ALLOW_VARIABLE = "SLEEVE_ALLOW_PRIVATE_URLS"


class BlockedAddressError(PermanentRemoteError):
    """A URL whose host is (or resolves to, or redirects to) a non-public address."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message, url=url, reason="blocked-address")


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``"loopback"``, ``"private"``...), or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),  # e.g. 100.64.0.0/10, shared address space
    )
    return next((name for name, hit in checks if hit), None)


def public_addresses(host: str, port: int, refuse: Refusal = refusal) -> list[str]:
    """Every address ``host`` resolves to, refusing the lot if any one is not public.

    Checking all of them (not just the first) matters: a name with one public and one private
    record would otherwise pass the check and then connect to whichever the system prefers.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for *_, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        why = refuse(ipaddress.ip_address(text))
        if why is not None:
            shown = host if host == text else f"{host} resolves to {text}, which"
            raise BlockedAddressError(
                f"{shown} is a {why} address; URLs must point to the public internet "
                f"(set {ALLOW_VARIABLE}=1 to allow local addresses)"
            )
        if text not in addresses:
            addresses.append(text)
    return addresses


class _Guarded:
    """Mixin for urllib3 connections: resolve, check, then connect to a checked address."""

    _dns_host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    host: str
    refuse: Refusal = staticmethod(refusal)

    def _new_conn(self) -> socket.socket:
        try:
            addresses = public_addresses(self._dns_host, self.port, self.refuse)
        except socket.gaierror as exc:
            # self is the urllib3 HTTPConnection this mixin is mixed into
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        last: OSError | None = None
        for address in addresses:
            try:
                return connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                last = exc
        # self is the urllib3 HTTPConnection this mixin is mixed into
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")  # type: ignore[arg-type]


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass  # TLS still verifies the certificate against the URL's host name, not the address


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter whose every connection (first request and each redirect hop) goes
    through :func:`public_addresses`. Proxies are not supported (the client disables them).
    ``refuse`` decides which addresses are refused (tests narrow it to allow one address)."""

    def __init__(self, refuse: Refusal = refusal, **kwargs: Any) -> None:
        self.refuse = refuse
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        rule = {"refuse": staticmethod(self.refuse)}
        http = type("GuardedHTTPConnection", (_GuardedHTTPConnection,), rule)
        https = type("GuardedHTTPSConnection", (_GuardedHTTPSConnection,), rule)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }
