"""Harvest one genre from MusicBrainz + the Cover Art Archive into the catalog.

MusicBrainz is paged in this thread under the process-wide limiter (SLEEVE_MB_RATE, default
1 request/s); each search page brings up to 100 release groups with their tags, so no per-item
lookups are needed. Front covers come from the CAA concurrently through the cover pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy.orm import Session

from sleeve.collector import records, runs
from sleeve.collector.coverart import CoverArtClient
from sleeve.collector.http import http_client
from sleeve.collector.musicbrainz import MusicBrainzClient, ReleaseGroupRecord
from sleeve.collector.pipeline import Candidate, Download, Page, open_harvest
from sleeve.collector.ratelimit import musicbrainz_pacer
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import Release, utcnow
from sleeve.core.errors import RateLimitedError, RemoteError
from sleeve.core.progress import Progress
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy

log = logging.getLogger("sleeve.harvest")

SOURCE = "musicbrainz"
KIND = "release-group"


def harvest_musicbrainz(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    genre: str,
    limit: int,
    *,
    progress: Progress = True,
) -> runs.HarvestSummary:
    """Add ``limit`` new distinct covers of ``genre`` (or resume the unfinished run)."""
    query = taxonomy.get(genre).mb_query
    if not query:
        raise ValueError(f"taxonomy genre {genre!r} has no mb_query")
    # every collect process on a PostgreSQL catalog shares the one MusicBrainz budget
    limiter = musicbrainz_pacer(catalog.engine, settings.musicbrainz_url, settings.mb_rate)
    mb = MusicBrainzClient(
        http_client(settings, "musicbrainz", limiter=limiter), settings.musicbrainz_url
    )
    caa = CoverArtClient(
        http_client(settings, "coverart"), settings.coverart_url, settings.cover_size
    )
    summary, pipeline = open_harvest(
        catalog, settings, source=SOURCE, genre=genre, limit=limit, progress=progress
    )

    def candidate(rg: ReleaseGroupRecord) -> Candidate:
        def fetch() -> Download | None:
            cover = caa.fetch_front(rg.id, max_bytes=settings.max_image_bytes)
            if cover is None:
                return None
            ids = {"release": cover.release_id} if cover.release_id else {}
            return Download(cover.final_url, cover.content, ids)

        def record(session: Session, download: Download) -> Release:
            return record_release_group(session, taxonomy, rg, download)

        return Candidate(KIND, rg.id, fetch, record)

    def pages() -> Iterator[Page]:
        with catalog.session() as s:
            cursor = runs.get_cursor(s, SOURCE, genre, query)
            offset, exhausted = cursor.next_offset, cursor.exhausted
        while not exhausted:
            page = mb.search_release_groups(query, offset=offset)
            with catalog.session() as s:
                done = runs.processed_items(s, SOURCE, KIND, [rg.id for rg in page.items])
            next_offset = offset + page.received
            last = page.received == 0 or next_offset >= page.count

            def on_done(s: Session, next_offset: int = next_offset, last: bool = last) -> None:
                cur = runs.get_cursor(s, SOURCE, genre, query)
                cur.next_offset, cur.exhausted, cur.updated_at = next_offset, last, utcnow()

            yield Page(
                [candidate(rg) for rg in page.items if rg.id not in done],
                on_done,
                skipped={"missing-fields": page.malformed} if page.malformed else None,
            )
            offset, exhausted = next_offset, last

    try:
        met = pipeline.run(pages())
    except RateLimitedError as exc:
        message = runs.retry_later(
            "MusicBrainz", exc.retry_after, "SLEEVE_RETRY_AFTER_CAP", settings.retry_after_cap
        )
        runs.finish(catalog, summary, "paused", message)
        return summary
    except RemoteError as exc:
        runs.finish(
            catalog, summary, "paused", f"MusicBrainz unavailable ({exc}); re-run to resume"
        )
        return summary
    dry = f"MusicBrainz has no more {genre} release groups with cover art"
    return runs.settle(catalog, summary, met, dry)


def record_release_group(
    session: Session,
    taxonomy: Taxonomy,
    rg: ReleaseGroupRecord,
    download: Download,
    extra: tuple[records.Evidence, ...] = (),  # e.g. a dump release's own tags
) -> Release:
    """The release group as a catalog release with every tag and genre as evidence (one
    transaction)."""
    artist = None
    if rg.artists:
        credit = rg.artists[0]
        artist = records.get_or_create_artist(session, SOURCE, credit.id, credit.name)
    ids = {KIND: rg.id, **download.source_ids}
    release, _ = records.upsert_release(
        session,
        source=SOURCE,
        ids=ids,
        title=rg.title,
        artist=artist,
        date=rg.first_release_date,
        url=f"https://musicbrainz.org/release-group/{rg.id}",
    )
    # Search results carry tags only (never the separate `genres` array); genre-named tags are
    # among them, and the taxonomy decides which strings count for which target genre.
    evidence = [records.Evidence("rg-tag", name, votes) for name, votes in rg.tags]
    # lookups and dumps carry the curated genres as well (rg-genre: the strongest evidence)
    evidence += [records.Evidence("rg-genre", name, votes) for name, votes in rg.genres]
    evidence += extra
    records.add_evidence(session, release, SOURCE, evidence, taxonomy)
    return release
