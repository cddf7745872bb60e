"""The attribute cache in the catalog: (sha256, extractor, version) -> JSON values."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import insert, select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverAttribute
from sleeve.dataset.attributes.base import Extractor, Values


def cached(catalog: Catalog, extractor: Extractor) -> dict[str, Values]:
    """sha256 -> values of every picture this extractor version has already measured."""
    query = select(CoverAttribute.sha256, CoverAttribute.value_json).where(
        CoverAttribute.extractor == extractor.name, CoverAttribute.version == extractor.version
    )
    with catalog.session() as session:
        return {sha: json.loads(doc) for sha, doc in session.execute(query).all()}


def save(catalog: Catalog, extractor: Extractor, values: Iterable[tuple[str, Values]]) -> int:
    """Store new values (one transaction); returns how many rows were written."""
    rows = [
        {
            "sha256": sha,
            "extractor": extractor.name,
            "version": extractor.version,
            "value_json": json.dumps(doc, sort_keys=True),
        }
        for sha, doc in values
    ]
    if rows:
        with catalog.session() as session:
            session.execute(insert(CoverAttribute), rows)
    return len(rows)
