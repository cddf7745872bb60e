"""Object storage through fsspec: the one place a store URL (``s3://bucket/prefix``) is opened
and an object written. The cover store and the export writer use it; a local path never
comes here (their on-disk code path is unchanged).

No half-written object is ever visible. On S3-protocol stores a PUT is atomic: the object
appears only once the whole body has arrived (a multipart upload only at its Complete call), and
a failed or interrupted upload leaves nothing under the key. Every other fsspec backend (a
mounted folder, sftp, memory) gets a temporary key beside the final one, moved onto it when it
is complete. Credentials come from the backend's own chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role): sleeve never holds or prints them,
and a URL it shows passes through :func:`sleeve.core.settings.redact_url`.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

from sleeve.core.errors import ConfigError, StorageError

# backends whose PUT of a complete body is atomic (no temporary key needed)
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def is_url(location: object) -> bool:
    """True for ``scheme://...`` (an object store), False for a local path."""
    return isinstance(location, str) and "://" in location and not location.startswith("file:")


@dataclass
class Bucket:
    """An fsspec filesystem and the key prefix every name is relative to."""

    fs: Any  # fsspec.AbstractFileSystem
    root: str  # "bucket/prefix" (no scheme, no trailing slash)
    url: str  # as configured (shown only through redact_url)

    def key(self, name: str) -> str:
        return f"{self.root}/{name.lstrip('/')}" if name else self.root

    @property
    def atomic_put(self) -> bool:
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        return bool(ATOMIC_PUT.intersection(protocols))

    def put(self, name: str, data: bytes) -> None:
        """Write ``data`` at ``name``, visible only when complete (see the module docstring)."""
        final = self.key(name)
        try:
            if self.atomic_put:
                self.fs.pipe_file(final, data)
                return
            parent, _, base = final.rpartition("/")
            tmp = f"{parent}/.tmp-{os.getpid()}-{uuid.uuid4().hex}-{base}.part"
            self.fs.pipe_file(tmp, data)
            try:
                self.fs.mv(tmp, final)
            except BaseException:
                self.fs.rm_file(tmp)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write {self.describe(name)}: {exc}") from exc

    def get(self, name: str) -> bytes | None:
        """The object's bytes, or None when there is no object at ``name``."""
        try:
            data: bytes = self.fs.cat_file(self.key(name))
            return data
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {self.describe(name)}: {exc}") from exc

    def size(self, name: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""
        try:
            return int(self.fs.info(self.key(name))["size"])
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {self.describe(name)}: {exc}") from exc

    def listing(self, prefix: str = "") -> list[str]:
        """Names (relative to the root) of every object under ``prefix``, sorted."""
        base = self.key(prefix)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        start = len(self.root) + 1
        return sorted(str(k)[start:] for k in found)

    def describe(self, name: str = "") -> str:
        from sleeve.core.settings import redact_url

        url = redact_url(self.url.rstrip("/"))
        return f"{url}/{name}" if name else url


def open_bucket(url: str, endpoint: str = "") -> Bucket:
    """The bucket for ``url``; ``endpoint`` points an S3-protocol client at another server
    (MinIO, a loopback test server). One clear error when the backend is not installed."""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with torch/datasets
        raise ConfigError("SLEEVE_STORE_URL needs fsspec: pip install 'sleeve[storage]'") from None
    options: dict[str, Any] = {}
    if endpoint and url.split("://", 1)[0] in ("s3", "s3a"):
        options["client_kwargs"] = {"endpoint_url": endpoint}
    try:
        fs, root = fsspec.url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"cannot open store {url.split('://', 1)[0]}://...: {exc} "
            "(for s3:// install the storage extra: pip install 'sleeve[storage]')"
        ) from None
    return Bucket(fs, str(root).rstrip("/"), url)
