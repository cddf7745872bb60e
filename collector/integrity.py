"""Catalog integrity: every image row has its file, and the file still hashes to the row."""

from __future__ import annotations

from collections.abc import Iterable
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
    with catalog.session() as s:
        rows = s.execute(select(CoverImage.sha256, CoverImage.path)).all()
    return verify_files(store, rows)


def verify_files(store: ImageStore, rows: Iterable[tuple[str, str]]) -> IntegrityReport:
    """Check (sha256, relative path) pairs: the same check ``sleeve db check`` and the dataset
    export rely on, so a file changed on disk is never used under its old hash."""
    report = IntegrityReport()
    for sha, path in rows:
        report.images += 1
        if not store.path(path).is_file():
            report.missing.append(sha)
        elif not store.verify(path, sha):
            report.mismatched.append(sha)
    return report
