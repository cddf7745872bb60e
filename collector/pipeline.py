"""The concurrent cover pipeline every source feeds: fetch and vet in threads, write in one.

Sources page their catalogue in the calling thread (that is where a per-service rate limit
applies) and hand over ``Candidate`` items. Downloads and image checks run in a small thread
pool, because cover hosts are not under MusicBrainz's 1 request/s. Catalog writes stay in the
calling thread, one transaction per candidate, so SQLite sees a single writer and a kill -9
loses at most the covers in flight. The number of candidates in flight never exceeds what is
still needed, so a run stops at exactly N new covers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sleeve.collector import records, runs, setting_skips
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import Release
from sleeve.core.errors import BadImageError, RemoteError, TransientRemoteError
from sleeve.core.images.intake import ImageInfo, inspect_image
from sleeve.core.images.store import ImageStore
from sleeve.core.progress import Bar, Progress
from sleeve.core.progress import bar as progress_bar
from sleeve.core.settings import Settings

log = logging.getLogger("sleeve.harvest")
_RACE_RETRIES = 3  # unique-key races with another harvester, per candidate


@dataclass(frozen=True)
class Download:
    url: str  # where the bytes came from (after redirects)
    content: bytes
    source_ids: dict[str, str] = field(default_factory=dict)  # ids learnt while fetching


@dataclass
class Candidate:
    """One item that may yield a cover."""

    kind: str  # HarvestItem kind, e.g. release-group | album
    external_id: str
    fetch: Callable[[], Download | None]  # worker thread; None = the source has no cover
    # main thread, inside the transaction: create the release + evidence, return it
    record: Callable[[Session, Download], Release]


@dataclass
class Page:
    candidates: list[Candidate]
    # main thread, inside a transaction, once every candidate of the page is settled
    on_done: Callable[[Session], None]
    skipped: dict[str, int] | None = None  # items the source could not even parse, by reason


@dataclass
class _Vetted:
    download: Download | None
    info: ImageInfo | None = None
    bad: BadImageError | None = None
    remote: RemoteError | None = None


class CoverPipeline:
    def __init__(
        self,
        catalog: Catalog,
        store: ImageStore,
        summary: runs.HarvestSummary,
        *,
        source: str,
        workers: int = 4,
        max_image_bytes: int = 15 * 1024 * 1024,
        progress: Progress = True,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.summary = summary
        self.source = source
        self.workers = max(1, workers)
        self.max_image_bytes = max_image_bytes
        self.progress = progress

    @property
    def remaining(self) -> int:
        return self.summary.target - self.summary.new

    def run(self, pages: Iterable[Page]) -> bool:
        """Process pages until the target is met (True) or the pages run out (False)."""
        if self.remaining <= 0:  # a resumed run whose new target is already met: ask nothing
            return True
        bar = progress_bar(
            self.summary.target,
            f"{self.source} {self.summary.genre}",
            "cover",
            progress=self.progress,
            initial=self.summary.new,
            dynamic_ncols=True,
        )
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="cover") as pool:
                for page in pages:
                    self._count_skips(page.skipped)
                    finished = self._run_page(pool, page, bar)
                    if not finished:  # target met mid-page: the page is not fully paged through
                        return True
                    with self.catalog.session() as s:
                        page.on_done(s)
                    if self.remaining <= 0:
                        return True
            return self.remaining <= 0
        finally:
            bar.close()

    def _count_skips(self, skipped: dict[str, int] | None) -> None:
        for reason, n in (skipped or {}).items():
            self.summary.skipped[reason] += n

    def _run_page(self, pool: ThreadPoolExecutor, page: Page, bar: Bar) -> bool:
        """True when every candidate of the page was settled; False when the target came first."""
        queue: Iterator[Candidate] = iter(page.candidates)
        in_flight: dict[Future[_Vetted], Candidate] = {}
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < min(self.workers * 2, self.remaining):
                candidate = next(queue, None)
                if candidate is None:
                    exhausted = True
                    break
                in_flight[pool.submit(self._fetch_and_vet, candidate)] = candidate
            if not in_flight:
                return exhausted
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                candidate = in_flight.pop(future)
                before = self.summary.new
                self._settle(candidate, future.result())
                bar.update(self.summary.new - before)  # a callback bar has no tqdm counter
                bar.set_postfix(had=self.summary.had, skipped=sum(self.summary.skipped.values()))

    def _fetch_and_vet(self, candidate: Candidate) -> _Vetted:
        try:
            download = candidate.fetch()
        except RemoteError as exc:
            return _Vetted(None, remote=exc)
        if download is None:
            return _Vetted(None)
        try:
            info = inspect_image(download.content, max_bytes=self.max_image_bytes)
        except BadImageError as exc:
            return _Vetted(download, bad=exc)
        return _Vetted(download, info=info)

    def _settle(self, candidate: Candidate, vetted: _Vetted) -> None:
        """Record one candidate's outcome in one transaction. Another collect process on the
        same PostgreSQL catalog may store the same release or cover between our read and our
        insert: the unique keys refuse the second row, and the retry finds and links the
        first (a cover is never stored twice, and no row is lost)."""
        summary = self.summary
        saved = (summary.new, summary.new_this_invocation, summary.had)
        skipped, failed = summary.skipped.copy(), summary.failed.copy()
        for attempt in range(_RACE_RETRIES + 1):
            try:
                self._settle_once(candidate, vetted)
                return
            except IntegrityError:
                if attempt == _RACE_RETRIES:
                    raise
                summary.new, summary.new_this_invocation, summary.had = saved
                summary.skipped, summary.failed = skipped.copy(), failed.copy()
                log.info(
                    "%s %s: stored concurrently, retrying", candidate.kind, candidate.external_id
                )

    def _settle_once(self, candidate: Candidate, vetted: _Vetted) -> None:
        summary = self.summary
        with self.catalog.session() as s:
            if vetted.remote is not None:
                reason = vetted.remote.reason
                # A permanent failure (404 after redirect, redirect loop, too large) will not
                # change on a re-run; a transient one (timeouts, 5xx) is left for the next run.
                transient = isinstance(vetted.remote, TransientRemoteError)
                records.record_failure(
                    s,
                    url=vetted.remote.url or candidate.external_id,
                    reason=reason,
                    detail=str(vetted.remote),
                    source=self.source,
                    run_id=summary.run_id,
                )
                if not transient:
                    runs.mark_processed(
                        s,
                        self.source,
                        candidate.kind,
                        candidate.external_id,
                        setting_skips.outcome("failed", reason, summary.caps),
                        summary.run_id,
                    )
                summary.failed[reason] += 1
                return
            if vetted.download is None or vetted.bad is not None:
                reason = "no-art" if vetted.bad is None else vetted.bad.reason
                if vetted.bad is not None:
                    records.record_failure(
                        s,
                        url=vetted.download.url if vetted.download else candidate.external_id,
                        reason=reason,
                        detail=vetted.bad.detail,
                        source=self.source,
                        run_id=summary.run_id,
                    )
                runs.mark_processed(
                    s,
                    self.source,
                    candidate.kind,
                    candidate.external_id,
                    setting_skips.outcome("skipped", reason, summary.caps),
                    summary.run_id,
                )
                summary.skipped[reason] += 1
                return
            assert vetted.info is not None
            release = candidate.record(s, vetted.download)
            _, new_image = records.attach_cover(
                s,
                self.store,
                release,
                vetted.download.content,
                vetted.info,
                source=self.source,
                source_url=vetted.download.url,
            )
            outcome = "new" if new_image else "had"
            runs.mark_processed(
                s, self.source, candidate.kind, candidate.external_id, outcome, summary.run_id
            )
            if new_image:
                runs.count_new_cover(s, summary)
            else:
                summary.had += 1


def open_harvest(
    catalog: Catalog,
    settings: Settings,
    *,
    source: str,
    genre: str,
    limit: int,
    progress: Progress = True,
    walked: tuple[str, ...] = (),
) -> tuple[runs.HarvestSummary, CoverPipeline]:
    """Start (or resume) the run for (source, genre) and the pipeline that will fill it.

    Temporary files a killed process left in the image store are swept first. ``walked``:
    the kinds the source walks to find candidates (see ``setting_skips.retry_raised``).
    """
    store = ImageStore.from_settings(settings)
    store.sweep_temporaries()
    summary = runs.start_or_resume(catalog, source, genre, limit)
    summary.caps = {"too-large": settings.max_image_bytes}
    with catalog.session() as s:  # covers refused under a lower cap than now: meet them again
        setting_skips.retry_raised(s, source, genre, summary.caps, walked)
    pipeline = CoverPipeline(
        catalog,
        store,
        summary,
        source=source,
        workers=settings.download_workers,
        max_image_bytes=settings.max_image_bytes,
        progress=progress,
    )
    return summary, pipeline
