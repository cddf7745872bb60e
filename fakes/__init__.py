"""Loopback fakes of MusicBrainz WS/2, the Cover Art Archive and archive.org, serving a
generated catalogue with procedurally drawn covers (offline demo, tests, benchmarks).

    from sleeve.fakes import FakeCatalogue, FakeServices
    cat = FakeCatalogue.generate(["rap", "jazz"], per_genre=50, seed=0)
    with FakeServices(cat) as fx:
        ...  # fx.musicbrainz_url, fx.coverart_url, fx.faults, fx.requests, fx.env()

Other fakes (e.g. Spotify) reuse ``FakeCatalogue.albums()`` / ``.artists`` and
``covers.render_cover`` / ``CoverRef.jpeg`` so every source shows the same pictures.
"""

from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.covers import cover_jpeg, draw_cover, render_cover
from sleeve.fakes.faults import FAULT_KINDS, FaultRegistry, FaultRule
from sleeve.fakes.http import RequestLog, RequestRecord
from sleeve.fakes.records import (
    BAD_ART_KINDS,
    AlbumSummary,
    CoverRef,
    FakeArtist,
    FakeRelease,
    FakeReleaseGroup,
    Tag,
)
from sleeve.fakes.server import FakeServices, start_services

__all__ = [
    "BAD_ART_KINDS",
    "FAULT_KINDS",
    "AlbumSummary",
    "CoverRef",
    "FakeArtist",
    "FakeCatalogue",
    "FakeRelease",
    "FakeReleaseGroup",
    "FakeServices",
    "FaultRegistry",
    "FaultRule",
    "RequestLog",
    "RequestRecord",
    "Tag",
    "cover_jpeg",
    "draw_cover",
    "render_cover",
    "start_services",
]
