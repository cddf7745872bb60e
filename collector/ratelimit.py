"""Request pacing: at most ``rate`` requests per second, across every thread, and with a
PostgreSQL catalog across every process that harvests into it.

Pacing is separate from retrying (scrapy's throttle vs retry): the limiter only spaces request
starts, the retry policy decides whether and how long to back off. A back-off signal from the
service (503 on MusicBrainz) pushes the next slot for everyone via :meth:`defer`.

MusicBrainz counts requests per source IP, so several ``collect`` processes on one machine (or
behind one NAT) share one budget. :class:`CatalogRateBudget` keeps that budget in the catalog:
one ``rate_budgets`` row holds the next allowed start (on the database's clock); each request
reserves its slot with one upsert that moves the row on by one interval under the row lock the
upsert takes, so concurrent reservations are serialised by PostgreSQL and no two get one slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Engine


class Pacer(Protocol):
    """What the HTTP client needs from a limiter."""

    def acquire(self) -> float: ...

    def defer(self, seconds: float) -> None: ...


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


# The slot is reserved and the wait computed on the database's clock in one statement, so the
# harvesters' own clocks (other hosts, skew) never enter the arithmetic.
_RESERVE = text(
    """
    INSERT INTO rate_budgets (name, next_at)
    VALUES (:name, extract(epoch from clock_timestamp()) + :interval)
    ON CONFLICT (name) DO UPDATE
        SET next_at = GREATEST(rate_budgets.next_at, extract(epoch from clock_timestamp()))
                      + :interval
    RETURNING next_at - :interval - extract(epoch from clock_timestamp()) AS wait
    """
)
_DEFER = text(
    """
    INSERT INTO rate_budgets (name, next_at)
    VALUES (:name, extract(epoch from clock_timestamp()) + :seconds)
    ON CONFLICT (name) DO UPDATE
        SET next_at = GREATEST(rate_budgets.next_at, extract(epoch from clock_timestamp())
                               + :seconds)
    """
)


class CatalogRateBudget:
    """A :class:`RateLimiter` whose slots are shared by every process on a PostgreSQL catalog
    (see the module docstring). One short transaction per request: ~1 ms on loopback."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.05,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if engine.dialect.name != "postgresql":
            raise ValueError("a catalog rate budget needs PostgreSQL (SQLite: RateLimiter)")
        self.engine = engine
        self.name = name[:200]
        self.interval = 1.0 / rate + margin  # the margin as in RateLimiter: network jitter
        self._sleep = sleep

    def acquire(self) -> float:
        with self.engine.begin() as conn:
            wait = float(
                conn.execute(_RESERVE, {"name": self.name, "interval": self.interval}).scalar_one()
            )
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def defer(self, seconds: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(_DEFER, {"name": self.name, "seconds": float(seconds)})


def musicbrainz_pacer(engine: Engine, base_url: str, rate: float) -> Pacer:
    """The MusicBrainz pacer for a catalog: shared through the database on PostgreSQL (every
    collect process on it), process-wide on SQLite (one writer process at a time there)."""
    name = f"musicbrainz:{base_url}"
    if engine.dialect.name == "postgresql":
        return CatalogRateBudget(engine, name, rate)
    return shared_limiter(name, rate)
