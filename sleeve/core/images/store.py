"""Content-addressed image storage under the data dir, written atomically.

A file reaches its final name only by renaming a fully written, fsynced temporary file in the
same directory (:func:`sleeve.core.fsutil.atomic_write`), so no half-written image ever sits at a
path the catalog points to.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sleeve.core.errors import DISK_FULL, ConfigError
from sleeve.core.fsutil import atomic_write, sweep_stale
from sleeve.core.images.intake import ImageInfo


class ImageStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def relpath(self, info: ImageInfo) -> str:
        return f"images/{info.sha256[:2]}/{info.sha256}.{info.ext}"

    def path(self, relpath: str) -> Path:
        return self.data_dir / relpath

    def put(self, data: bytes, info: ImageInfo) -> str:
        """Store ``data`` (already validated as ``info``); idempotent. Returns the relative path."""
        rel = self.relpath(info)
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

    def verify(self, relpath: str, sha256: str) -> bool:
        """True when the stored file exists and its content still hashes to ``sha256``."""
        path = self.data_dir / relpath
        if not path.is_file():
            return False
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    def sweep_temporaries(self) -> int:
        """Remove temp files left by killed processes (not a live concurrent writer's: see
        :func:`sleeve.core.fsutil.is_stale`); returns how many were removed."""
        root = self.data_dir / "images"
        if not root.is_dir():
            return 0
        return sweep_stale(list(root.glob("*/.tmp-*.part")), ".tmp-")
