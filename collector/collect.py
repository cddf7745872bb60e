"""`collect`'s library entry: route a genre harvest to its source(s), or import a folder."""

from __future__ import annotations

import os
import tempfile

from sleeve.collector import runs
from sleeve.collector.harvest_mb import harvest_musicbrainz

from sleeve.catalog.db import Catalog
from sleeve.errors import ConfigError
from sleeve.settings import Settings
from sleeve.taxonomy import Taxonomy

SOURCES = ("musicbrainz", "spotify", "all")


def check_data_dir(settings: Settings) -> None:
    """Fail before any request when the data dir cannot be written."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=settings.data_dir, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"SLEEVE_DATA_DIR={settings.data_dir} is not writable ({exc.strerror})"
        ) from None


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
    if source == "musicbrainz":
        return [harvest_musicbrainz(catalog, settings, taxonomy, genre, limit, progress=progress)]
    from sleeve.collector.harvest_spotify import harvest_spotify  # its own issue; optional

    if source == "spotify":
        return [harvest_spotify(catalog, settings, taxonomy, genre, limit, progress=progress)]
    # all: half each, then the other source tops up whatever one of them could not supply
    first = harvest_musicbrainz(
        catalog, settings, taxonomy, genre, (limit + 1) // 2, progress=progress
    )
    second = harvest_spotify(
        catalog, settings, taxonomy, genre, limit - first.new, progress=progress
    )
    out = [first, second]
    short = limit - first.new - second.new
    if short > 0 and first.state == "completed":
        out.append(
            harvest_musicbrainz(catalog, settings, taxonomy, genre, short, progress=progress)
        )
    return out
