"""Harvest bookkeeping shared by every source: runs, cursors, processed items, the summary.

A run is the goal "N new distinct covers of genre G from source S". An unfinished run (state
``running``, or ``paused`` after a rate limit) is resumed by the same command; a finished one
makes the next command start a new run. Cursors remember how far each query has been paged
across runs, and ``HarvestItem`` rows remember every item already processed, so a resumed or
repeated harvest neither re-queries pages nor re-downloads covers it has.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sleeve.collector import setting_skips
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import HarvestCursor, HarvestItem, HarvestRun, utcnow

RESUMABLE = ("running", "paused")


@dataclass
class HarvestSummary:
    source: str
    genre: str
    target: int
    run_id: int
    resumed: bool = False
    new: int = 0  # new distinct covers stored by this run (all invocations together)
    new_this_invocation: int = 0
    had: int = 0  # the same bytes were already stored: linked, not counted as new
    skipped: Counter[str] = field(default_factory=Counter)  # bad input, by reason
    failed: Counter[str] = field(default_factory=Counter)  # remote failures, by reason
    state: str = "running"
    message: str = ""
    # reason -> the value of the setting that decides it (setting_skips), e.g. too-large -> cap
    caps: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, int]]:
        out = [("new covers (this run)", self.new), ("already had", self.had)]
        out += [(f"skipped: {k}", v) for k, v in sorted(self.skipped.items())]
        out += [(f"failed: {k}", v) for k, v in sorted(self.failed.items())]
        return out


@dataclass(frozen=True)
class OpenRun:
    """An unfinished run that the next command for its (source, genre) resumes."""

    id: int
    source: str
    genre: str
    target: int
    added: int  # new covers it has stored so far, all invocations together
    state: str


def open_runs(catalog: Catalog, genre: str, sources: tuple[str, ...]) -> list[OpenRun]:
    """The run each of ``sources`` would resume for ``genre`` (the newest open one), in order."""
    with catalog.session() as s:
        rows = s.scalars(
            select(HarvestRun)
            .where(
                HarvestRun.genre == genre,
                HarvestRun.source.in_(sources),
                HarvestRun.state.in_(RESUMABLE),
            )
            .order_by(HarvestRun.id)
        ).all()
        latest = {
            r.source: OpenRun(r.id, r.source, r.genre, r.target, r.new_covers, r.state)
            for r in rows
        }
    return [latest[src] for src in sources if src in latest]


def resume_note(run: OpenRun, limit: int, target: int) -> str:
    """One line saying what resuming ``run`` with the new command's ``--limit`` will do."""
    more = max(0, target - run.added)
    does = f"so it adds up to {more} more" if more else "so it adds nothing more and completes"
    state = "paused" if run.state == "paused" else "interrupted"
    return (
        f"resuming {state} {run.source} run #{run.id} for {run.genre}: {run.added} of "
        f"{run.target} added; --limit {limit} makes its target {target}, {does}"
    )


def start_or_resume(catalog: Catalog, source: str, genre: str, target: int) -> HarvestSummary:
    """The open run for (source, genre) with ``target`` as its new goal, or a new run.

    The command that resumes a run decides its goal: a paused ``--limit 190`` resumed by
    ``--limit 40`` stops at 40 new covers in that run (already met: it completes at once).
    """
    with catalog.session() as s:
        run = s.scalar(
            select(HarvestRun)
            .where(
                HarvestRun.source == source,
                HarvestRun.genre == genre,
                HarvestRun.state.in_(RESUMABLE),
            )
            .order_by(HarvestRun.id.desc())
            .limit(1)
        )
        resumed = run is not None
        if run is None:
            run = HarvestRun(source=source, genre=genre, target=target, state="running")
            s.add(run)
            s.flush()
        else:
            run.state = "running"
            run.target = target
        return HarvestSummary(
            source=source,
            genre=genre,
            target=run.target,
            run_id=run.id,
            resumed=resumed,
            new=run.new_covers,
        )


def finish(catalog: Catalog, summary: HarvestSummary, state: str, message: str = "") -> None:
    summary.state = state
    summary.message = message
    with catalog.session() as s:
        run = s.get(HarvestRun, summary.run_id)
        if run is None:
            return
        run.state = state
        run.message = message
        if state not in RESUMABLE:
            run.finished_at = utcnow()


def count_new_cover(session: Session, summary: HarvestSummary) -> None:
    """Called inside the transaction that stored the cover, so the count survives a kill -9.

    One atomic ``UPDATE ... SET new_covers = new_covers + 1``, never read-modify-write: two
    collect processes adding to one run on PostgreSQL must not lose each other's counts, and
    each learns the run's total (its own covers and the other's) from the row."""
    total = session.execute(
        update(HarvestRun)
        .where(HarvestRun.id == summary.run_id)
        .values(new_covers=HarvestRun.new_covers + 1)
        .returning(HarvestRun.new_covers)
    ).scalar_one_or_none()
    summary.new = summary.new + 1 if total is None else int(total)
    summary.new_this_invocation += 1


def get_cursor(session: Session, source: str, genre: str, query: str) -> HarvestCursor:
    cursor = session.scalar(
        select(HarvestCursor).where(
            HarvestCursor.source == source,
            HarvestCursor.genre == genre,
            HarvestCursor.query == query,
        )
    )
    if cursor is None:
        try:  # a savepoint: another harvester may create the same cursor at the same moment
            with session.begin_nested():
                cursor = HarvestCursor(source=source, genre=genre, query=query, next_offset=0)
                session.add(cursor)
        except IntegrityError:
            return get_cursor(session, source, genre, query)  # theirs is committed: use it
    return cursor


def processed_items(session: Session, source: str, kind: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    rows = session.scalars(
        select(HarvestItem.external_id).where(
            HarvestItem.source == source,
            HarvestItem.kind == kind,
            HarvestItem.external_id.in_(ids),
        )
    )
    return set(rows)


def mark_processed(
    session: Session, source: str, kind: str, external_id: str, outcome: str, run_id: int
) -> None:
    exists = session.scalar(
        select(HarvestItem.id).where(
            HarvestItem.source == source,
            HarvestItem.kind == kind,
            HarvestItem.external_id == external_id,
        )
    )
    if exists is None:
        session.add(
            HarvestItem(
                source=source, kind=kind, external_id=external_id, outcome=outcome, run_id=run_id
            )
        )
        session.flush()


def settle(catalog: Catalog, summary: HarvestSummary, met: bool, dry: str) -> HarvestSummary:
    """Close a run that ended normally: target met, or the source ran dry (``dry`` says how)."""
    if met:
        finish(catalog, summary, "completed")
        return summary
    with catalog.session() as s:
        held_back = setting_skips.still_skipped(s, summary.source, summary.genre)
    if held_back:  # the source did not run dry: a setting held covers back
        dry = setting_skips.dry_note(held_back, summary.caps)
    note = f"{dry} ({summary.new} of {summary.target} new covers)"
    finish(catalog, summary, "exhausted", note)
    return summary


def retry_later(service: str, retry_after: float | None, cap_variable: str, cap: float) -> str:
    """The message for a run paused by a Retry-After longer than we are willing to sleep."""
    wait = retry_after or 0.0
    until = datetime.now(UTC) + timedelta(seconds=wait)
    return (
        f"{service} rate limit: asked to wait {wait:.0f}s, over {cap_variable}={cap:.0f}s. "
        f"Stopped cleanly with the resume point saved; re-run the same command after "
        f"{until:%Y-%m-%d %H:%M:%S} UTC to continue."
    )
