"""Catalog integrity: every image row has its file, and the file still hashes to the row."""

from __future__ import annotations

from dataclasses import dataclass, field

from sleeve.collector.store import ImageStore
from sqlalchemy import select

from sleeve.catalog.db import Catalog
from sleeve.catalog.models import CoverImage


@dataclass
class IntegrityReport:
    images: int = 0
    missing: list[str] = field(default_factory=list)  # sha256 of rows whose file is gone
    mismatched: list[str] = field(default_factory=list)  # file content no longer matches

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


def check_integrity(catalog: Catalog, store: ImageStore) -> IntegrityReport:
    report = IntegrityReport()
    with catalog.session() as s:
        rows = s.execute(select(CoverImage.sha256, CoverImage.path)).all()
    for sha, path in rows:
        report.images += 1
        if not store.path(path).is_file():
            report.missing.append(sha)
        elif not store.verify(path, sha):
            report.mismatched.append(sha)
    return report
