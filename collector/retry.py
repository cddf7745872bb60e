"""The retry policy: which failures are worth another try, and how long to wait first.

Modelled on urllib3's Retry: only idempotent requests, exponential backoff with jitter and a
cap, Retry-After honoured but capped, and the final error keeps its cause. A Retry-After above
``retry_after_cap`` is not slept through (Spotify has sent ~22 h): the caller gets a
``RateLimitedError`` at once and decides (stop the source, save the resume point).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Statuses a well-behaved client retries; 4xx other than 408/429 are the caller's problem.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    # A Retry-After above this is not slept through: RateLimitedError at once. None: no cap.
    retry_after_cap: float | None = 300.0
    # MusicBrainz sends "Retry-After: 0" on 503: never read that as "hammer again now".
    min_wait_on_throttle: float = 1.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with 'equal jitter' for retry number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def wait_for(self, attempt: int, status: int | None, retry_after: float | None) -> float:
        """Backoff (capped by backoff_cap), or the service's Retry-After when that is longer.

        A Retry-After above ``retry_after_cap`` never gets here: ``exceeds_cap`` stops first.
        """
        wait = self.backoff(attempt)
        if status in (429, 503):
            wait = max(wait, self.min_wait_on_throttle)
            if retry_after is not None:
                wait = max(wait, retry_after)
        return wait

    def exceeds_cap(self, retry_after: float | None) -> bool:
        return (
            retry_after is not None
            and self.retry_after_cap is not None
            and retry_after > self.retry_after_cap
        )
