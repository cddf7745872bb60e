"""The catalog rows the dataset builder reads, as plain frozen records (loaded in one place).

Everything downstream (grouping, labels, balance, split, manifest) is a pure function of these
records, so it can be tested without a database and re-run with another rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import Artist, CoverImage, GenreEvidence, Release, ReleaseImage


@dataclass(frozen=True)
class ImageRow:
    id: int
    sha256: str
    path: str  # relative to the data dir
    width: int
    height: int

    @property
    def ext(self) -> str:
        return self.path.rsplit(".", 1)[-1].lower() if "." in self.path else "jpg"


@dataclass(frozen=True)
class ReleaseRow:
    id: int
    artist_key: str  # Artist.name_key; "" when no artist is known (folder imports)
    artist_name: str


@dataclass(frozen=True)
class EvidenceRow:
    release_id: int
    source: str
    kind: str
    name: str
    votes: int
    target_genre: str | None
    strength: str | None
    weight: float


@dataclass
class CatalogRows:
    images: list[ImageRow]
    releases: dict[int, ReleaseRow]
    links: dict[int, list[tuple[int, str]]]  # image id -> [(release id, link source)]
    evidence: dict[int, list[EvidenceRow]] = field(default_factory=dict)  # release id -> rows

    def releases_of(self, image_id: int) -> list[int]:
        return sorted({rid for rid, _ in self.links.get(image_id, [])})

    def sources_of(self, image_id: int) -> list[str]:
        return sorted({src for _, src in self.links.get(image_id, [])})

    def evidence_genres(self) -> set[str]:
        return {e.target_genre for rows in self.evidence.values() for e in rows if e.target_genre}


def _images(s: Session) -> list[ImageRow]:
    query = select(
        CoverImage.id, CoverImage.sha256, CoverImage.path, CoverImage.width, CoverImage.height
    ).order_by(CoverImage.sha256)
    return [ImageRow(*row) for row in s.execute(query)]


def load_images(catalog: Catalog) -> list[ImageRow]:
    """Every stored cover, by sha256 (what the app groups into duplicates)."""
    with catalog.session() as s:
        return _images(s)


def load_rows(catalog: Catalog) -> CatalogRows:
    """Read every image, link, release and evidence row (read-only, one transaction)."""
    with catalog.session() as s:
        images = _images(s)
        releases = {
            rid: ReleaseRow(rid, key or "", name or fallback or "")
            for rid, key, name, fallback in s.execute(
                select(Release.id, Artist.name_key, Artist.name, Release.artist_name).outerjoin(
                    Artist, Release.artist_id == Artist.id
                )
            )
        }
        links: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for image_id, release_id, source in s.execute(
            select(ReleaseImage.image_id, ReleaseImage.release_id, ReleaseImage.source)
        ):
            links[image_id].append((release_id, source))
        evidence: dict[int, list[EvidenceRow]] = defaultdict(list)
        for row in s.execute(
            select(
                GenreEvidence.release_id,
                GenreEvidence.source,
                GenreEvidence.kind,
                GenreEvidence.name,
                GenreEvidence.votes,
                GenreEvidence.target_genre,
                GenreEvidence.strength,
                GenreEvidence.weight,
            ).order_by(GenreEvidence.id)
        ):
            evidence[row[0]].append(EvidenceRow(*row))
    return CatalogRows(images, releases, dict(links), dict(evidence))
