"""Cover Art Archive client: the front cover of a release group, as a ready-made thumbnail.

``/release-group/{mbid}/front-{size}`` answers 307 to archive.org, which may redirect again
before the bytes: the HTTP layer follows up to five hops. No index.json is needed for the front
cover; the final URL names the release the art came from (``mbid-<release id>``), which we keep.
An absent cover (404) is an expected miss, returned as None rather than raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sleeve.collector.http import HttpClient
from sleeve.core.errors import PermanentRemoteError

SIZES = (250, 500, 1200)
_RELEASE_IN_URL = re.compile(r"mbid-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


@dataclass(frozen=True)
class CoverDownload:
    url: str  # what we asked for
    final_url: str  # where the bytes came from
    content: bytes
    release_id: str | None  # the release whose art represents the group, when the URL says


class CoverArtClient:
    def __init__(self, http: HttpClient, base_url: str, size: int = 500) -> None:
        if size not in (0, *SIZES):
            raise ValueError(f"cover size must be one of {SIZES} or 0 (original), not {size}")
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.size = size

    def front_url(self, mbid: str, entity: str = "release-group") -> str:
        suffix = f"front-{self.size}" if self.size else "front"
        # The CAA accepts lower-case MBIDs only (upper case is a 400).
        return f"{self.base_url}/{entity}/{mbid.lower()}/{suffix}"

    def fetch_front(
        self, mbid: str, *, max_bytes: int, entity: str = "release-group"
    ) -> CoverDownload | None:
        """The front cover of a release group (the CAA picks its release) or of a release."""
        url = self.front_url(mbid, entity)
        try:
            fetched = self.http.get_bytes(url, max_bytes=max_bytes)
        except PermanentRemoteError as exc:
            if exc.status == 404:
                return None
            raise
        match = _RELEASE_IN_URL.search(fetched.url)
        return CoverDownload(url, fetched.url, fetched.content, match.group(1) if match else None)
