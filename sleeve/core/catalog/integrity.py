"""Catalog integrity: every image row has its file, and the file still hashes to the row."""

from __future__ import annotations

from sqlalchemy import select

from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import CoverImage
from sleeve.core.images.integrity import IntegrityReport, verify_files
from sleeve.core.images.store import ImageStore


def check_integrity(catalog: Catalog, store: ImageStore) -> IntegrityReport:
    with catalog.session() as s:
        rows = s.execute(select(CoverImage.sha256, CoverImage.path)).all()
    return verify_files(store, rows)
