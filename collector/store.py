"""Content-addressed image storage under the data dir, written atomically.

A file reaches its final name only by ``os.replace`` of a fully written, fsynced temporary file
in the same directory, so no half-written image ever sits at a path the catalog points to.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sleeve.collector.images import ImageInfo

from sleeve.errors import DISK_FULL, ConfigError
from sleeve.fsutil import sweep_stale, temp_prefix, widen_to_umask


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
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=temp_prefix(".tmp-"), suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                widen_to_umask(fh.fileno())  # mkstemp's 0600 would stay on the final file
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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
        :func:`sleeve.fsutil.is_stale`); returns how many were removed."""
        root = self.data_dir / "images"
        if not root.is_dir():
            return 0
        return sweep_stale(list(root.glob("*/.tmp-*.part")), ".tmp-")
