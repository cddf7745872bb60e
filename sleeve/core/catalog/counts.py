"""What the catalog holds, counted with SELECTs only (the app's catalog panel)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage, Failure, GenreEvidence, Release, ReleaseImage


@dataclass(frozen=True)
class CatalogCounts:
    releases: int
    covers: int
    by_genre: list[dict[str, Any]]  # releases with evidence per target genre, by source
    covers_by_source: list[dict[str, Any]]
    failures_by_reason: list[dict[str, Any]]


def count_catalog(catalog: Catalog) -> CatalogCounts:
    """Releases, covers, releases per genre and source, covers per source, failures by reason."""
    with catalog.engine.connect() as conn:
        releases = conn.execute(select(func.count()).select_from(Release)).scalar_one()
        covers = conn.execute(select(func.count()).select_from(CoverImage)).scalar_one()
        genre_rows = conn.execute(
            select(
                GenreEvidence.target_genre,
                GenreEvidence.source,
                func.count(distinct(GenreEvidence.release_id)),
            )
            .where(GenreEvidence.target_genre.is_not(None))
            .group_by(GenreEvidence.target_genre, GenreEvidence.source)
        ).all()
        genre_totals = dict(
            conn.execute(
                select(GenreEvidence.target_genre, func.count(distinct(GenreEvidence.release_id)))
                .where(GenreEvidence.target_genre.is_not(None))
                .group_by(GenreEvidence.target_genre)
            ).all()
        )
        source_rows = conn.execute(
            select(ReleaseImage.source, func.count(distinct(ReleaseImage.image_id)))
            .group_by(ReleaseImage.source)
            .order_by(ReleaseImage.source)
        ).all()
        failure_rows = conn.execute(
            select(Failure.reason, func.count())
            .group_by(Failure.reason)
            .order_by(func.count().desc())
        ).all()
    return CatalogCounts(
        releases=int(releases),
        covers=int(covers),
        by_genre=_pivot(genre_rows, genre_totals),
        covers_by_source=[{"source": s, "covers": int(n)} for s, n in source_rows],
        failures_by_reason=[{"reason": r, "count": int(n)} for r, n in failure_rows],
    )


def _pivot(rows: Sequence[Any], totals: Mapping[str | None, int]) -> list[dict[str, Any]]:
    """(genre, source, n) rows as one row per genre with a column per source."""
    sources = sorted({source for _, source, _ in rows})
    table: dict[str, dict[str, Any]] = {}
    for genre, source, n in rows:
        table.setdefault(genre, {"genre": genre, **dict.fromkeys(sources, 0)})[source] = int(n)
    for genre, row in table.items():
        row["releases"] = int(totals.get(genre, 0))
    return [table[g] for g in sorted(table)]
