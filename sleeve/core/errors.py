"""One exception tree for the whole toolkit.

    SleeveError
    ├── UsageError               caller misuse or bad configuration, raised before any I/O
    │   ├── ConfigError          a setting is missing or invalid (names the variable to fix)
    │   └── UnknownGenreError    a genre outside the taxonomy (lists the valid ones)
    ├── RemoteError              a remote service failed us (keeps url, status and cause)
    │   ├── TransientRemoteError timeouts, connection resets, 5xx, 429/503 after the retry budget
    │   │   └── RateLimitedError the service asked us to wait longer than the configured cap
    │   └── PermanentRemoteError 4xx, a body that is not what the API promises, too large
    │       └── ForbiddenError   403: the endpoint is closed to this app (e.g. Spotify Dev Mode)
    ├── BadImageError            bytes that are not a usable cover (reason is a short code)
    ├── DataError                a dataset, export or run directory that cannot be used
    │   └── NothingYetError      nothing to work on yet: empty catalog, no dataset, no model
    └── StorageError             a file sleeve keeps cannot be written or read: disk full, a
        │                        damaged catalog, an unreadable model file (names the file)
        ├── ModelFileError       a model.pt that parses but fails validation (names the field)
        └── NewerCatalogError    the catalog was migrated by a newer sleeve (names the revision)

Commands catch SleeveError at the edge (``sleeve.core.cliutil.run_command``) and print one line with
the exit code its class maps to; anything else is a bug. A full disk (``OSError`` ENOSPC /
EDQUOT) is turned into one line there too, wherever it happens.
"""

from __future__ import annotations

import errno


class SleeveError(Exception):
    """Base of every error this package raises on purpose."""


class UsageError(SleeveError):
    """The caller asked for something impossible; nothing was done."""


class ConfigError(UsageError):
    """A setting is missing or invalid."""


class UnknownGenreError(UsageError):
    def __init__(self, genre: str, valid: list[str]) -> None:
        self.genre = genre
        self.valid = sorted(valid)
        super().__init__(f"unknown genre {genre!r}; valid genres: {', '.join(self.valid)}")


class RemoteError(SleeveError):
    """``reason`` is a short code a harvest counts by (timeout, http-503, too-large, ...)."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        reason: str = "remote-error",
    ) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        super().__init__(message)


class TransientRemoteError(RemoteError):
    """Worth retrying later: the service or the network was unavailable."""

    retry_after: float | None = None  # seconds the service asked for (Retry-After), if any


class RateLimitedError(TransientRemoteError):
    def __init__(
        self, message: str, *, url: str | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, url=url, status=429, reason="rate-limited")


class PermanentRemoteError(RemoteError):
    """Retrying the same request will not help."""


class ForbiddenError(PermanentRemoteError):
    """403: this endpoint is closed to this application."""


class BadImageError(SleeveError):
    """Not a usable cover image. ``reason`` is a short code used for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class DataError(SleeveError):
    """A dataset, export or run directory that cannot be used as asked."""


class NothingYetError(DataError):
    """The command has nothing to work on yet; the message names the command to run first."""


class StorageError(SleeveError):
    """A file sleeve keeps is unusable or cannot be written; the message names it and the fix."""


class ModelFileError(StorageError):
    """A model file whose payload is malformed or hostile: refused before anything runs it."""


class NewerCatalogError(StorageError):
    """The catalog's schema revision is unknown here: a newer sleeve wrote it."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        super().__init__(
            f"the catalog is from a newer sleeve (revision {revision}); upgrade sleeve "
            "(nothing was changed)"
        )


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full_message(exc: OSError, where: object) -> str:
    """One line for a full disk: what could not be written, and what to do."""
    target = exc.filename or where
    return (
        f"disk full writing {target} ({exc.strerror or 'no space left'}): free some space, "
        "then run the same command again (what was finished is kept)"
    )
