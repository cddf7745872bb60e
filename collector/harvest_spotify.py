"""Harvest one genre from Spotify into the catalog (the route a Development-Mode app has).

Search cannot filter albums by genre, and the batch artist endpoint is closed to Dev-Mode apps,
so the walk is: artist search ``genre:"<value>"`` (10 per page, following ``next``), then each
new artist's albums and singles (10 per page), then each album's cover from the CDN (no auth).
One artist-search page brings the genres of up to 10 artists, so labels cost no extra request.

Labels keep their provenance: each string of the artist's ``genres`` is ``artist-genre``
evidence; when Spotify sends no genres (the field is deprecated and often empty) the filter
value that found the artist is recorded instead as ``search-filter``, weaker evidence.

Cross-source identity: ``records.upsert_release`` merges by barcode, else artist+title+year.
MusicBrainz search results carry no barcode, so the UPC from ``GET /albums/{id}`` (one extra
request per album, ~11x the API calls of paging alone under an unpublished rate limit) would buy
nothing today and is not asked for. An album already stored with a cover from another source is
not downloaded again: its Spotify id and evidence join the existing release.

Resume: per filter value a cursor holds the ``next`` URL of the artist-search page being worked
on; artists are marked done once all their album pages are settled, albums by the pipeline.
A Retry-After above SPOTIFY_RETRY_AFTER_CAP stops the source with state ``paused`` and the UTC
time to come back; a 403 (endpoint closed to this app) stops it with state ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.orm import Session

from sleeve.collector import records, runs
from sleeve.collector.http import HttpClient, http_client
from sleeve.collector.pipeline import Candidate, Download, Page, open_harvest
from sleeve.collector.spotify import SpotifyAlbum, SpotifyArtist, SpotifyClient, SpotifyPage
from sleeve.collector.spotify_auth import SpotifyToken, check_credentials
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import Release, utcnow
from sleeve.core.errors import (
    ConfigError,
    ForbiddenError,
    PermanentRemoteError,
    RateLimitedError,
    RemoteError,
)
from sleeve.core.progress import Progress
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy

log = logging.getLogger("sleeve.harvest")

SOURCE = "spotify"
ALBUM = "album"
ARTIST = "artist"
SEARCH_WINDOW = 1000  # Spotify serves search results up to offset 1000 only


def spotify_client(settings: Settings) -> SpotifyClient:
    """A client with its token holder; raises ConfigError when credentials are missing."""
    check_credentials(settings)
    api = http_client(settings, "spotify")
    token = SpotifyToken(
        api,
        settings.spotify_token_url,
        settings.spotify_client_id,
        settings.spotify_client_secret,
    )
    return SpotifyClient(api, token, settings.spotify_api_url)


def search_query(filter_value: str) -> str:
    return f'genre:"{filter_value}"'


def harvest_spotify(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    genre: str,
    limit: int,
    *,
    client: SpotifyClient | None = None,
    progress: Progress = True,
) -> runs.HarvestSummary:
    """Add ``limit`` new distinct covers of ``genre`` from Spotify (or resume the open run)."""
    filters = taxonomy.get(genre).spotify_search
    if not filters:
        raise ConfigError(f"taxonomy genre {genre!r} has no spotify_search values")
    client = client or spotify_client(settings)
    client.token.bearer()  # bad credentials fail here, before a run is recorded
    summary, pipeline = open_harvest(
        catalog,
        settings,
        source=SOURCE,
        genre=genre,
        limit=limit,
        progress=progress,
        walked=(ARTIST,),  # an artist's albums are listed again when one is retried
    )
    walk = _Walk(catalog, settings, taxonomy, client, http_client(settings, "web"), summary)
    try:
        met = pipeline.run(walk.pages(genre, filters))
    except RateLimitedError as exc:
        runs.finish(catalog, summary, "paused", rate_limited_message(exc, settings))
        return summary
    except ForbiddenError as exc:
        runs.finish(catalog, summary, "failed", f"{exc} Use --source musicbrainz instead.")
        return summary
    except RemoteError as exc:
        runs.finish(catalog, summary, "paused", f"Spotify unavailable ({exc}); re-run to resume")
        return summary
    dry = f"Spotify has no more {genre} albums for the filters {filters}"
    return runs.settle(catalog, summary, met, dry)


def rate_limited_message(exc: RateLimitedError, settings: Settings) -> str:
    cap = settings.spotify_retry_after_cap
    return runs.retry_later("Spotify", exc.retry_after, "SPOTIFY_RETRY_AFTER_CAP", cap)


class _Walk:
    """Artist search pages -> artists -> album pages, as pipeline Pages (main thread)."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        taxonomy: Taxonomy,
        client: SpotifyClient,
        cdn: HttpClient,
        summary: runs.HarvestSummary,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.taxonomy = taxonomy
        self.client = client
        self.cdn = cdn
        self.summary = summary

    def pages(self, genre: str, filters: list[str]) -> Iterator[Page]:
        for value in filters:
            yield from self._filter_pages(genre, value)

    def _filter_pages(self, genre: str, value: str) -> Iterator[Page]:
        query = search_query(value)
        with self.catalog.session() as s:
            cursor = runs.get_cursor(s, SOURCE, genre, query)
            next_url, exhausted = cursor.next_url, cursor.exhausted
        while not exhausted:
            page = self._artist_page(query, next_url)
            if page is None:  # past the search window: as far as this query reaches
                self._save_cursor(genre, query, "", True)
                return
            with self.catalog.session() as s:
                done = runs.processed_items(s, SOURCE, ARTIST, [a.id for a in page.items])
            for artist in page.items:
                if artist.id not in done:
                    yield from self._artist_pages(artist, value)
            next_url = page.next_url
            exhausted = not next_url or _offset(next_url) > SEARCH_WINDOW
            self._save_cursor(genre, query, next_url, exhausted)

    def _artist_page(self, query: str, next_url: str) -> SpotifyPage[SpotifyArtist] | None:
        if not next_url:
            return self.client.search_artists(query)
        try:
            return self.client.next_artists(next_url)
        except PermanentRemoteError as exc:
            # Beyond offset 1000 Spotify answers 400 "Bad request." (404 on older deployments).
            if exc.status in (400, 404) and not isinstance(exc, ForbiddenError):
                log.info("Spotify search %s ends at the search window: %s", query, exc)
                return None
            raise

    def _save_cursor(self, genre: str, query: str, next_url: str, exhausted: bool) -> None:
        with self.catalog.session() as s:
            cur = runs.get_cursor(s, SOURCE, genre, query)
            cur.next_url, cur.exhausted, cur.updated_at = next_url, exhausted, utcnow()

    def _artist_pages(self, artist: SpotifyArtist, filter_value: str) -> Iterator[Page]:
        evidence = artist_evidence(artist, filter_value)
        next_url = ""
        while True:
            albums = self.client.artist_albums(artist.id, next_url=next_url)
            next_url = albums.next_url
            candidates, merged = self._candidates(albums.items, evidence)
            last = not next_url

            def on_done(s: Session, last: bool = last, artist_id: str = artist.id) -> None:
                if last:
                    runs.mark_processed(s, SOURCE, ARTIST, artist_id, "done", self.summary.run_id)

            skipped = {"missing-fields": albums.malformed} if albums.malformed else {}
            if merged:
                skipped["already-stored"] = merged
            yield Page(candidates, on_done, skipped=skipped or None)
            if last:
                return

    def _candidates(
        self, albums: list[SpotifyAlbum], evidence: list[records.Evidence]
    ) -> tuple[list[Candidate], int]:
        """Candidates for new albums; an album already stored with a cover only gains ids."""
        out: list[Candidate] = []
        merged = 0
        with self.catalog.session() as s:
            done = runs.processed_items(s, SOURCE, ALBUM, [a.id for a in albums])
            for album in albums:
                if album.id in done:
                    continue
                ident = records.identity_key(album.artist_name, album.name, album.release_date)
                same = records.find_same_album(s, "", ident)
                if same is not None and same.images:
                    record_album(s, self.taxonomy, album, evidence)
                    runs.mark_processed(s, SOURCE, ALBUM, album.id, "merged", self.summary.run_id)
                    merged += 1
                    continue
                out.append(self._candidate(album, evidence))
        return out, merged

    def _candidate(self, album: SpotifyAlbum, evidence: list[records.Evidence]) -> Candidate:
        def fetch() -> Download | None:  # worker thread
            image = album.best_image(self.settings.spotify_image_max)
            if image is None:
                return None
            got = self.cdn.get_bytes(image.url, max_bytes=self.settings.max_image_bytes)
            return Download(got.url, got.content)

        def record(session: Session, download: Download) -> Release:
            return record_album(session, self.taxonomy, album, evidence)

        return Candidate(ALBUM, album.id, fetch, record)


def artist_evidence(artist: SpotifyArtist, filter_value: str) -> list[records.Evidence]:
    """The artist's own genres when Spotify sent any, else the search filter that found it."""
    if artist.genres:
        return [records.Evidence("artist-genre", g) for g in artist.genres]
    return [records.Evidence("search-filter", filter_value)]


def record_album(
    session: Session,
    taxonomy: Taxonomy,
    album: SpotifyAlbum,
    evidence: list[records.Evidence],
) -> Release:
    """The album as a catalog release (merged with the same album from another source)."""
    artist = None
    if album.artists:
        artist_id, name = album.artists[0]
        artist = records.get_or_create_artist(session, SOURCE, artist_id, name)
    release, _ = records.upsert_release(
        session,
        source=SOURCE,
        ids={ALBUM: album.id},
        title=album.name,
        artist=artist,
        date=album.release_date,
        url=album.url,
    )
    records.add_evidence(session, release, SOURCE, evidence, taxonomy)
    return release


def _offset(url: str) -> int:
    try:
        return int(parse_qs(urlsplit(url).query).get("offset", ["0"])[0])
    except ValueError:
        return 0
