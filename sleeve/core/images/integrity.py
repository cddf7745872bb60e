"""Integrity of stored covers: every (sha256, path) pair has its file, and the file still
hashes to the sha256. ``sleeve db check`` runs it over the catalog's rows
(:func:`sleeve.core.catalog.integrity.check_integrity`), the dataset export over the rows it
ships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sleeve.core.images.store import ImageStore


@dataclass
class IntegrityReport:
    images: int = 0
    missing: list[str] = field(default_factory=list)  # sha256 of rows whose file is gone
    mismatched: list[str] = field(default_factory=list)  # file content no longer matches

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


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
