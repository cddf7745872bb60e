"""Items refused because of a setting are not refused for good (issue 21 #9).

A cover over ``SLEEVE_MAX_IMAGE_BYTES`` is skipped (``too-large``), and a skipped item is
marked processed so no later run fetches it again. That is right for a broken file, wrong for a
cover that only broke a cap the user may raise. So a setting-dependent outcome keeps the
setting's value (``skipped:too-large@15728640``); the next harvest of the genre forgets the
items refused under a lower cap than now and rewinds the genre's cursors so they are met again
(items already processed are not re-fetched), and a run that runs dry while such items remain
says what was skipped and which setting retries it, instead of "no more covers".
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from sleeve.core.catalog.models import HarvestCursor, HarvestItem, HarvestRun, utcnow

# reason -> the variable whose value decides it
SETTING_REASONS: dict[str, str] = {"too-large": "SLEEVE_MAX_IMAGE_BYTES"}


def outcome(prefix: str, reason: str, caps: Mapping[str, int]) -> str:
    """``skipped:<reason>``, with ``@<value>`` when the reason depends on a setting."""
    if reason in SETTING_REASONS and reason in caps:
        return f"{prefix}:{reason}@{caps[reason]}"
    return f"{prefix}:{reason}"


def _setting_reason(value: str) -> tuple[str, int | None] | None:
    """(reason, the setting's value then; None when not recorded) for a setting-dependent
    outcome, else None. Rows from before this were written without a value."""
    _, _, rest = value.partition(":")
    reason, _, cap = rest.partition("@")
    if reason not in SETTING_REASONS:
        return None
    return reason, int(cap) if cap.isdigit() else None


def _items(session: Session, source: str, genre: str) -> list[tuple[HarvestItem, str, int | None]]:
    rows = session.scalars(
        select(HarvestItem)
        .join(HarvestRun, HarvestRun.id == HarvestItem.run_id)
        .where(
            HarvestItem.source == source,
            HarvestRun.genre == genre,
            HarvestItem.outcome.like("%:%"),
        )
    )
    out = []
    for item in rows:
        parsed = _setting_reason(item.outcome)
        if parsed is not None:
            out.append((item, *parsed))
    return out


def retry_raised(
    session: Session,
    source: str,
    genre: str,
    caps: Mapping[str, int],
    walked: tuple[str, ...] = (),
) -> int:
    """Forget the items of (source, genre) refused under a lower setting than ``caps`` now
    holds, and rewind the genre's cursors so the harvest meets them again; how many.

    ``walked``: kinds a source walks to find its candidates (Spotify's artists, whose albums
    are the candidates): forgotten too, so their candidates are listed again."""
    forgotten = 0
    for item, reason, was in _items(session, source, genre):
        if reason in caps and (was is None or was < caps[reason]):
            session.delete(item)
            forgotten += 1
    if forgotten and walked:
        containers = session.scalars(
            select(HarvestItem)
            .join(HarvestRun, HarvestRun.id == HarvestItem.run_id)
            .where(
                HarvestItem.source == source,
                HarvestRun.genre == genre,
                HarvestItem.kind.in_(walked),
            )
        )
        for item in containers:
            session.delete(item)
    if forgotten:
        cursors = session.scalars(
            select(HarvestCursor).where(
                HarvestCursor.source == source, HarvestCursor.genre == genre
            )
        )
        for cursor in cursors:
            cursor.next_offset, cursor.next_url, cursor.exhausted = 0, "", False
            cursor.updated_at = utcnow()
        session.flush()
    return forgotten


def still_skipped(session: Session, source: str, genre: str) -> dict[str, int]:
    """reason -> items of (source, genre) still refused because of a setting."""
    counts: dict[str, int] = {}
    for _, reason, _ in _items(session, source, genre):
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def dry_note(skipped: Mapping[str, int], caps: Mapping[str, int]) -> str:
    """What a run that ran dry left behind for a setting, and how to retry it."""
    parts = [
        f"{n} skipped as {reason} under {SETTING_REASONS[reason]}={caps.get(reason, '?')}"
        for reason, n in sorted(skipped.items())
    ]
    variables = " / ".join(sorted({SETTING_REASONS[r] for r in skipped}))
    return (
        f"no more covers within the current settings: {'; '.join(parts)}; raise {variables} "
        "and run the same command again to retry them"
    )
