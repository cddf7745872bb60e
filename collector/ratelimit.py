"""Process-wide request pacing: at most ``rate`` requests per second, across every thread.

Pacing is separate from retrying (scrapy's throttle vs retry): the limiter only spaces request
starts, the retry policy decides whether and how long to back off. A back-off signal from the
service (503 on MusicBrainz) pushes the next slot for everyone via :meth:`defer`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """One token, no burst: request starts are at least ``1/rate`` seconds apart."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.05,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        # A small margin keeps arrival spacing at the server >= 1/rate despite network jitter.
        self.interval = 1.0 / rate + margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> float:
        """Block until this caller may start a request; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def defer(self, seconds: float) -> None:
        """Nobody starts a request for ``seconds`` from now (the service asked us to back off)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_SHARED: dict[str, RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(name: str, rate: float) -> RateLimiter:
    """The one limiter for ``name`` in this process (e.g. every MusicBrainz client shares it)."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(name)
        if limiter is None or abs(limiter.interval - (1.0 / rate + 0.05)) > 1e-9:
            limiter = _SHARED[name] = RateLimiter(rate)
        return limiter
