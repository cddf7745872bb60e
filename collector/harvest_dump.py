"""Harvest one genre from a MusicBrainz JSON dump + the Cover Art Archive into the catalog.

The metadata comes from the dump (:mod:`sleeve.collector.dump`) instead of WS/2 search, so no
MusicBrainz request is made and its 1 request/s does not apply: a million release groups are
read in minutes, not 12 days. Entities are chosen and labelled with the same taxonomy and the
same evidence kinds as the WS/2 harvest (``record_release_group``); in a release dump only
releases whose ``cover-art-archive.front`` is true become candidates, one per release group.
Covers then come from the CAA through the same concurrent pipeline. The run's cursor holds
the byte offset after the last page whose candidates were all settled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from sleeve.collector import records, runs
from sleeve.collector.coverart import CoverArtClient
from sleeve.collector.dump import DumpEntity, dump_entity, read_dump
from sleeve.collector.harvest_mb import KIND, record_release_group
from sleeve.collector.harvest_mb import SOURCE as MB_SOURCE
from sleeve.collector.http import http_client
from sleeve.collector.pipeline import Candidate, Download, Page, open_harvest
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import Release, utcnow
from sleeve.core.errors import RemoteError
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy

SOURCE = "musicbrainz-dump"  # the run and its items; releases and evidence stay "musicbrainz"
PAGE_CANDIDATES = 100  # covers asked for per page, as one WS/2 search page brings
PAGE_LINES = 20_000  # a page also ends here, so the cursor moves through other genres' stretches


def harvest_dump(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    genre: str,
    limit: int,
    dump: Path,
    *,
    progress: bool = True,
) -> runs.HarvestSummary:
    """Add ``limit`` new distinct covers of ``genre`` from ``dump`` (or resume that run)."""
    entity = dump_entity(dump)
    taxonomy.get(genre)
    caa = CoverArtClient(
        http_client(settings, "coverart"), settings.coverart_url, settings.cover_size
    )
    summary, pipeline = open_harvest(
        catalog, settings, source=SOURCE, genre=genre, limit=limit, progress=progress
    )
    query = f"{dump.name}:mbdump/{entity}"

    def candidate(item: DumpEntity) -> Candidate:
        def fetch() -> Download | None:
            mbid, kind = (item.release_id, "release") if item.release_id else (item.key, KIND)
            cover = caa.fetch_front(mbid, max_bytes=settings.max_image_bytes, entity=kind)
            if cover is None:
                return None
            release_id = item.release_id or cover.release_id
            return Download(
                cover.final_url, cover.content, {"release": release_id} if release_id else {}
            )

        def record(session: Session, download: Download) -> Release:
            extra = tuple(records.Evidence("release-tag", n, v) for n, v in item.release_tags)
            return record_release_group(session, taxonomy, item.group, download, extra)

        return Candidate(KIND, item.key, fetch, record)

    def pages() -> Iterator[Page]:
        with catalog.session() as s:
            cursor = runs.get_cursor(s, SOURCE, genre, query)
            start, exhausted = cursor.next_offset, cursor.exhausted
        if exhausted:
            return
        queued: set[str] = set()  # release groups already handed over in this invocation
        batch: list[DumpEntity] = []
        lines = malformed = 0
        end = start
        for line in read_dump(dump, start):
            lines += 1
            end = line.end
            item = line.entity
            if item is None:
                malformed += 1
            elif (
                item.front is not False and item.key not in queued and wanted(item, genre, taxonomy)
            ):
                queued.add(item.key)
                batch.append(item)
            if len(batch) >= PAGE_CANDIDATES or lines >= PAGE_LINES:
                yield _page(catalog, batch, candidate, query, genre, end, False, malformed)
                batch, lines, malformed = [], 0, 0
        yield _page(catalog, batch, candidate, query, genre, end, True, malformed)

    try:
        met = pipeline.run(pages())
    except RemoteError as exc:
        runs.finish(catalog, summary, "paused", f"Cover Art Archive unavailable ({exc}); re-run")
        return summary
    return runs.settle(catalog, summary, met, f"{dump.name} has no more {genre} covers")


def wanted(item: DumpEntity, genre: str, taxonomy: Taxonomy) -> bool:
    """Whether any of the entity's tags or genres is evidence for ``genre`` (the taxonomy's
    match, as the WS/2 harvest's tag query and the label rule read them)."""
    names = [n for n, _ in (*item.group.tags, *item.group.genres, *item.release_tags)]
    return any(m.genre == genre for name in names for m in taxonomy.match(name))


def _page(
    catalog: Catalog,
    batch: list[DumpEntity],
    candidate: Callable[[DumpEntity], Candidate],
    query: str,
    genre: str,
    end: int,
    last: bool,
    malformed: int,
) -> Page:
    with catalog.session() as s:
        keys = [item.key for item in batch]
        # processed by an earlier dump run or by the WS/2 harvest: no second download
        done = runs.processed_items(s, SOURCE, KIND, keys) | runs.processed_items(
            s, MB_SOURCE, KIND, keys
        )

    def on_done(s: Session) -> None:
        cur = runs.get_cursor(s, SOURCE, genre, query)
        cur.next_offset, cur.exhausted, cur.updated_at = end, last, utcnow()

    return Page(
        [candidate(item) for item in batch if item.key not in done],
        on_done,
        skipped={"malformed-dump-line": malformed} if malformed else None,
    )
