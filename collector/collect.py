"""`collect`'s library entry: route a genre harvest to its source(s), or import a folder."""

from __future__ import annotations

import os
import tempfile

from sleeve.collector import runs
from sleeve.collector.harvest_mb import harvest_musicbrainz
from sleeve.collector.harvest_spotify import harvest_spotify, spotify_client
from sleeve.collector.spotify import SpotifyClient
from sleeve.collector.spotify_auth import check_credentials
from sleeve.core.catalog.db import Catalog
from sleeve.core.errors import DISK_FULL, ConfigError, UsageError
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy

SOURCES = ("musicbrainz", "spotify", "all")


def check_data_dir(settings: Settings) -> None:
    """Fail before any request when the data dir cannot be written."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=settings.data_dir, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno in DISK_FULL:  # not a configuration problem: the command says so
            raise
        raise ConfigError(
            f"SLEEVE_DATA_DIR={settings.data_dir} is not writable ({exc.strerror})"
        ) from None


def preflight(settings: Settings, source: str) -> None:
    """Everything that can fail before the catalog is opened: credentials, then the data dir.

    Missing Spotify credentials must leave nothing behind (no data dir, no catalog file), so
    they are checked first; commands call this before ``open_catalog``.
    """
    if source not in SOURCES:
        raise UsageError(f"--source {source!r}: expected one of {', '.join(SOURCES)}")
    if source in ("spotify", "all"):
        check_credentials(settings)
    check_data_dir(settings)


def collect(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    genre: str,
    limit: int,
    *,
    source: str = "musicbrainz",
    progress: bool = True,
) -> list[runs.HarvestSummary]:
    """Harvest ``limit`` new covers of ``genre``; one summary per source run, in order."""
    if source == "musicbrainz":
        return [harvest_musicbrainz(catalog, settings, taxonomy, genre, limit, progress=progress)]
    # Spotify's token first: bad credentials fail before any source has written a row.
    client = spotify_client(settings)
    client.token.bearer()
    if source == "spotify":
        return [
            harvest_spotify(
                catalog, settings, taxonomy, genre, limit, client=client, progress=progress
            )
        ]
    return _collect_all(catalog, settings, taxonomy, genre, limit, client, progress)


def _collect_all(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    genre: str,
    limit: int,
    client: SpotifyClient,
    progress: bool,
) -> list[runs.HarvestSummary]:
    """Half from each source; the other source tops up what one could not supply.

    MusicBrainz goes first: its release groups carry richer genre evidence, and Spotify then
    merges the albums both know into the stored releases instead of adding them twice. A re-run
    after a pause only resumes the unfinished runs (their stored targets), so repeating the same
    command never collects more than asked.
    """

    def mb(n: int) -> runs.HarvestSummary:
        return harvest_musicbrainz(catalog, settings, taxonomy, genre, n, progress=progress)

    def sp(n: int) -> runs.HarvestSummary:
        return harvest_spotify(
            catalog, settings, taxonomy, genre, n, client=client, progress=progress
        )

    pending = resume_plan(catalog, genre, limit, "all")
    if pending:
        harvest = {"musicbrainz": mb, "spotify": sp}
        return [harvest[run.source](target) for run, target in pending]
    first = mb((limit + 1) // 2)
    out = [first]
    if limit - first.new > 0:
        out.append(sp(limit - first.new))
    short = limit - sum(s.new for s in out)
    # Top up from MusicBrainz only when Spotify is done for good (exhausted, 403): a paused
    # Spotify run is resumed by the next invocation and would then overshoot the total.
    if short > 0 and first.state == "completed" and out[-1].state not in runs.RESUMABLE:
        out.append(mb(short))
    return out


def resume_plan(
    catalog: Catalog, genre: str, limit: int, source: str
) -> list[tuple[runs.OpenRun, int]]:
    """The open runs this command will resume, each with the target ``limit`` gives it.

    One source: its open run's target becomes ``limit``, counting what that run already
    added. ``all``: the open runs share ``limit`` in order (MusicBrainz first), each at most its
    stored share, so the resumed runs together never add more than the new limit.
    """
    sources = ("musicbrainz", "spotify") if source == "all" else (source,)
    pending = runs.open_runs(catalog, genre, sources)
    if source != "all":
        return [(run, limit) for run in pending]
    budget = limit - sum(run.added for run in pending)
    plan = []
    for run in pending:
        extra = max(0, min(run.target - run.added, budget))
        budget -= extra
        plan.append((run, run.added + extra))
    return plan
