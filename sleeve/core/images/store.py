"""Content-addressed image storage, on the local disk (the default) or an object store.

On disk the covers live under the data dir, and a file reaches its final name only by renaming
a fully written, fsynced temporary file in the same directory
(:func:`sleeve.core.fsutil.atomic_write`), so no half-written image ever sits at a path the catalog
points to. With ``SLEEVE_STORE_URL=s3://bucket/prefix`` the same relative paths
(``images/ab/<sha256>.jpg``) are keys under that prefix, written through
:mod:`sleeve.core.objstore` (an S3 PUT is atomic: the object appears complete or not at all), and
every read checks the sha256. Work that decodes covers (build-dataset's hashes, OCR, attributes)
reads them through :meth:`ImageStore.local_path`: on disk the file itself; with an object store
a checked copy kept at the same relative path under the data dir (a read-through cache).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from sleeve.core.errors import DISK_FULL, ConfigError, StorageError
from sleeve.core.fsutil import atomic_write, sweep_stale
from sleeve.core.images.intake import ImageInfo
from sleeve.core.objstore import Bucket, open_bucket


class StoreSettings(Protocol):
    """The settings the store reads (:class:`sleeve.core.settings.Settings` has them)."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def store_url(self) -> str: ...
    @property
    def store_endpoint(self) -> str: ...


class ImageStore:
    def __init__(self, data_dir: Path, url: str = "", endpoint: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.bucket: Bucket | None = open_bucket(url, endpoint) if url else None

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> ImageStore:
        """The store the settings name: ``SLEEVE_STORE_URL``, else the data dir."""
        return cls(settings.data_dir, settings.store_url, settings.store_endpoint)

    @property
    def where(self) -> str:
        """Where the covers are, safe to print (credentials redacted)."""
        return self.bucket.describe() if self.bucket else str(self.data_dir)

    def relpath(self, info: ImageInfo) -> str:
        return f"images/{info.sha256[:2]}/{info.sha256}.{info.ext}"

    def path(self, relpath: str) -> Path:
        """The cover's local file: the stored file, or (object store) its cache path."""
        return self.data_dir / relpath

    def put(self, data: bytes, info: ImageInfo) -> str:
        """Store ``data`` (already validated as ``info``); idempotent. Returns the relative path."""
        rel = self.relpath(info)
        if self.bucket is not None:
            if self.bucket.size(rel) != info.size_bytes:
                self.bucket.put(rel, data)
            return rel
        final = self.data_dir / rel
        if final.is_file() and final.stat().st_size == info.size_bytes:
            return rel
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno in DISK_FULL:  # not a configuration problem: the command says so
                raise
            raise ConfigError(f"data dir {self.data_dir} is not writable: {exc}") from exc
        # ".tmp-<pid>-*.part": the name sweep_temporaries looks for
        atomic_write(final, data, prefix=".tmp-", suffix=".part", fsync=True)
        return rel

    def exists(self, relpath: str) -> bool:
        if self.bucket is not None:
            return self.bucket.size(relpath) is not None
        return (self.data_dir / relpath).is_file()

    def read(self, relpath: str, sha256: str) -> bytes:
        """The stored cover's bytes, checked against ``sha256`` (StorageError when missing or
        changed: never returned under a hash they no longer have)."""
        if self.bucket is not None:
            data = self.bucket.get(relpath)
        else:
            path = self.data_dir / relpath
            data = path.read_bytes() if path.is_file() else None
        if data is None:
            raise StorageError(f"cover {relpath} is missing from {self.where}; run sleeve db check")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError(
                f"cover {relpath} in {self.where} no longer matches its sha256; run sleeve db check"
            )
        return data

    def local_path(self, relpath: str, sha256: str) -> Path:
        """A local file with the cover's checked bytes (see the module docstring)."""
        path = self.data_dir / relpath
        if self.bucket is None:
            return path
        if not (path.is_file() and _digest(path) == sha256):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, self.read(relpath, sha256), prefix=".tmp-", suffix=".part")
        return path

    def verify(self, relpath: str, sha256: str) -> bool:
        """True when the stored cover exists and its content still hashes to ``sha256``."""
        if self.bucket is not None:
            data = self.bucket.get(relpath)
            return data is not None and hashlib.sha256(data).hexdigest() == sha256
        path = self.data_dir / relpath
        return path.is_file() and _digest(path) == sha256

    def sweep_temporaries(self) -> int:
        """Remove temp files left by killed processes (not a live concurrent writer's: see
        :func:`sleeve.core.fsutil.is_stale`); returns how many were removed. An object store has
        none on S3 (its PUT is atomic); the local cache's are swept the same way."""
        root = self.data_dir / "images"
        if not root.is_dir():
            return 0
        return sweep_stale(list(root.glob("*/.tmp-*.part")), ".tmp-")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
