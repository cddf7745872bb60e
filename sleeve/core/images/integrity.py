"""Integrity of stored covers: every (sha256, path) pair has its file, and the file still
hashes to the sha256. ``sleeve db check`` runs it over the catalog's rows
(:func:`sleeve.core.catalog.integrity.check_integrity`), the dataset export over the rows it
ships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sleeve.core.errors import StorageError
from sleeve.core.images.store import ImageStore


@dataclass
class IntegrityReport:
    images: int = 0
    missing: list[str] = field(default_factory=list)  # sha256 of rows whose file is gone
    mismatched: list[str] = field(default_factory=list)  # file content no longer matches

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


def verify_files(
    store: ImageStore, rows: Iterable[tuple[str, str]], *, cache: bool = False
) -> IntegrityReport:
    """Check (sha256, relative path) pairs: the same check ``sleeve db check`` and the dataset
    export rely on, so a file changed on disk is never used under its old hash. ``cache``:
    covers on an object store that pass are kept in the local cache (build-dataset reads them
    next); ``db check`` reads them without keeping a copy."""
    report = IntegrityReport()
    for sha, path in rows:
        report.images += 1
        if not store.exists(path):
            report.missing.append(sha)
            continue
        try:
            if cache and store.bucket is not None:  # local_path checks the sha256 as it copies
                ok = store.local_path(path, sha).is_file()
            else:
                ok = store.verify(path, sha)
        except StorageError:
            ok = False
        if not ok:
            report.mismatched.append(sha)
    return report
