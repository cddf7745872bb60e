"""Spotify client-credentials tokens: fetched on demand, renewed before they lapse.

The token is a bearer credential, so this module is the only place that sees it or the client
secret: neither is logged, put into an exception message, or returned in a repr. A token is
renewed when less than ``REFRESH_MARGIN`` seconds remain (the margin spotipy uses, so a slow
harvest page never starts with a token about to die) and, once per stale token, when the API
answers 401 "The access token expired" (Spotify can expire a token early).

Bad credentials are a setting to fix, not an outage: the 400 ``invalid_client`` answer becomes a
``ConfigError`` naming the two variables and where to get them.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable

from sleeve.collector.http import HttpClient
from sleeve.core.errors import ConfigError, PermanentRemoteError, RemoteError
from sleeve.core.settings import Secret, Settings

log = logging.getLogger("sleeve.spotify")

REFRESH_MARGIN = 60.0  # seconds: renew a token with less than this left
DASHBOARD = "https://developer.spotify.com/dashboard"
CREDENTIAL_VARS = "SPOTIPY_CLIENT_ID / SPOTIPY_CLIENT_SECRET"


def check_credentials(settings: Settings) -> None:
    """Fail before any I/O (and before the catalog is opened) when credentials are missing."""
    missing = [
        name
        for name, value in (
            ("SPOTIPY_CLIENT_ID", settings.spotify_client_id),
            ("SPOTIPY_CLIENT_SECRET", settings.spotify_client_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"Spotify needs {' and '.join(missing)} (a client-credentials app): create an app "
            f"at {DASHBOARD}, then set {CREDENTIAL_VARS} in the environment or .env"
        )


class SpotifyToken:
    """A thread-safe holder of the current bearer token for one client id."""

    def __init__(
        self,
        http: HttpClient,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0
        self.issued = 0  # tokens obtained by this holder (for reports and tests)

    def __repr__(self) -> str:
        return f"SpotifyToken(client_id={self._client_id!r}, issued={self.issued})"

    def bearer(self) -> str:
        """The current token, fetching a new one when none is held or it is about to lapse."""
        with self._lock:
            if not self._token or self._expires_at - self._clock() < REFRESH_MARGIN:
                self._fetch()
            return self._token

    def renew(self, stale: str) -> str:
        """A fresh token after the API called ``stale`` expired (once, however many threads ask)."""
        with self._lock:
            if self._token == stale:
                log.info("Spotify says the access token expired; requesting a new one")
                self._fetch()
            return self._token

    def _fetch(self) -> None:
        pair = f"{self._client_id}:{self._secret.reveal()}".encode()
        basic = base64.b64encode(pair).decode("ascii")
        try:
            fetched = self._http.post_form(
                self._token_url,
                {"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
        except PermanentRemoteError as exc:
            if exc.status in (400, 401):
                # 400 invalid_client (unknown id or wrong secret); the message is Spotify's own
                # OAuth error text, which never echoes the secret.
                raise ConfigError(
                    f"Spotify rejected the client credentials ({_oauth_reason(exc)}): check "
                    f"{CREDENTIAL_VARS} against your app at {DASHBOARD}"
                ) from None
            raise
        payload = fetched.json()
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise PermanentRemoteError(
                f"Spotify token endpoint {self._token_url} answered without an access_token",
                url=self._token_url,
                reason="bad-token",
            )
        try:
            expires_in = float(payload.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        self._token = token
        self._expires_at = self._clock() + expires_in
        self.issued += 1
        log.info("Spotify token obtained (expires in %.0fs)", expires_in)


def _oauth_reason(exc: RemoteError) -> str:
    """'invalid_client (Invalid client)' from the HTTP layer's message, else the status."""
    _, sep, detail = str(exc).partition(f"{exc.url}: ")
    return detail if sep and detail else f"HTTP {exc.status}"
