"""MusicBrainz JSON data dumps, read as a stream: one entity per line, no request, no rate limit.

MetaBrainz publishes ``release-group.tar.xz`` and ``release.tar.xz`` (and more) with one JSON
entity per line in ``mbdump/<entity>``, in the WS/2 lookup shapes with ``genres``, ``tags``,
``artist-credit`` and, on releases, the ``cover-art-archive`` block and the nested
``release-group``. The archive is read in tarfile's stream mode (``r|xz``): one pass, constant
memory, nothing unpacked to disk. The position is the byte offset in the uncompressed entity
file after the last whole line, so a harvest resumes exactly where it stopped; xz cannot seek,
so resuming decompresses up to that offset again (no parsing, no requests: seconds per GB).

Parsing reuses the WS/2 client's record parser (:func:`parse_release_group`), so a release
group from the dump and one from a search are the same record.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sleeve.collector.musicbrainz import ReleaseGroupRecord, parse_release_group
from sleeve.core.errors import UsageError

ENTITIES = ("release", "release-group")  # the dumps that carry what a cover harvest needs
_SKIP_CHUNK = 1 << 20


@dataclass(frozen=True)
class DumpEntity:
    """One usable line: its release group (with genres and tags) and, in a release dump, the
    release, its own tags and whether the Cover Art Archive has its front image."""

    group: ReleaseGroupRecord
    release_id: str = ""  # "" in a release-group dump
    release_tags: tuple[tuple[str, int], ...] = ()
    front: bool | None = None  # cover-art-archive.front; None: unknown (release-group dump)

    @property
    def key(self) -> str:
        return self.group.id


@dataclass(frozen=True)
class DumpLine:
    entity: DumpEntity | None  # None: a line that is not a usable entity (counted, skipped)
    end: int  # byte offset after this line in the uncompressed entity file


def dump_entity(path: Path) -> str:
    """The entity file inside the dump (``mbdump/release`` ...), from its name or its members."""
    for entity in ENTITIES:
        if path.name.startswith(f"{entity}."):
            return entity
    raise UsageError(
        f"--from-dump {path.name}: expected a MusicBrainz JSON dump named release.tar.xz or "
        "release-group.tar.xz (from data.metabrainz.org, or a mirror)"
    )


def read_dump(path: Path, start: int = 0) -> Iterator[DumpLine]:
    """Every line of the dump's entity file from byte ``start`` on, parsed, in order."""
    entity = dump_entity(path)
    member_name = f"mbdump/{entity}"
    try:
        with tarfile.open(path, mode="r|*") as tar:  # stream mode: no seeks, no member index
            for member in tar:
                if member.name != member_name:
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    break
                yield from _lines(fh, entity, start)
                return
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"--from-dump {path}: not a readable .tar.xz dump ({exc})") from None
    raise UsageError(f"--from-dump {path}: no {member_name} inside; is it a JSON dump?")


def _lines(fh: IO[bytes], entity: str, start: int) -> Iterator[DumpLine]:
    pos = 0
    while pos < start:  # decompress up to the resume point (xz streams cannot seek)
        chunk = fh.read(min(_SKIP_CHUNK, start - pos))
        if not chunk:
            return
        pos += len(chunk)
    for raw in fh:
        pos += len(raw)
        if not raw.endswith(b"\n"):  # a truncated last line: not an entity, and not resumable past
            yield DumpLine(None, pos - len(raw))
            return
        yield DumpLine(parse_line(raw, entity), pos)


def parse_line(raw: bytes, entity: str) -> DumpEntity | None:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    if entity == "release-group":
        group = parse_release_group(doc)
        return None if group is None else DumpEntity(group)
    return _release(doc)


def _release(doc: dict[str, Any]) -> DumpEntity | None:
    release_id = doc.get("id")
    raw_group = doc.get("release-group")
    if not isinstance(release_id, str) or not isinstance(raw_group, dict):
        return None
    if "artist-credit" not in raw_group and "artist-credit" in doc:
        raw_group = {**raw_group, "artist-credit": doc["artist-credit"]}
    group = parse_release_group(raw_group)
    if group is None:
        return None
    caa = doc.get("cover-art-archive")
    front = bool(caa.get("front")) if isinstance(caa, dict) else False
    tags = tuple(
        (str(t["name"]), _votes(t.get("count")))
        for t in doc.get("tags") or []
        if isinstance(t, dict) and t.get("name")
    )
    return DumpEntity(group, release_id.lower(), tags, front)


def _votes(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1
