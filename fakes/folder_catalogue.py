"""A catalogue whose Cover Art Archive images are REAL files: one release per file, tagged with
its genre, so the loopback MusicBrainz / CAA stand-ins can serve an existing cover collection
(benchmarks/expansion.py harvests real covers through the real collector this way).

    cat = folder_catalogue([(Path("covers/Pop/a.jpg"), "pop"), ...], seed=0)
    with FakeServices(cat) as fx: ...      # collect --genre pop finds a.jpg's release

Each file becomes one release group (an Album by its own generated artist, no duplicate
links, no merges, no bad art) with one release whose front image is the file. The group and
its release are tagged with ``tags`` for its genre (default: the taxonomy's first core tag, so
the genre's ``mb_query`` finds it). Everything is deterministic in ``seed`` and the file list.

The original image (``front`` with no size) is the file's bytes unchanged, so a harvested copy
of a cover that was also imported from the folder is byte-identical to it. A thumbnail is the
file scaled down to the size and re-encoded as JPEG; like the CAA's, it is never scaled up: a
file no larger than the thumbnail is served as stored.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes import names
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.coverart_app import ORIGINAL_SIZE
from sleeve.fakes.records import (
    CoverRef,
    Credit,
    FakeArtist,
    FakeRelease,
    FakeReleaseGroup,
    Tag,
    mbid,
)

THUMB_QUALITY = 90


@dataclass(frozen=True)
class FileCover(CoverRef):
    """A release's picture read from ``path`` (``genre``/``seed`` keep CoverRef's shape)."""

    path: str = ""

    def jpeg(self, size: int = ORIGINAL_SIZE) -> bytes:
        data = Path(self.path).read_bytes()
        if size == ORIGINAL_SIZE:  # the archive asks for ORIGINAL_SIZE when no size is named
            return data
        with Image.open(io.BytesIO(data)) as im:
            if max(im.size) <= size:
                return data
            thumb = im.convert("RGB")
            thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        thumb.save(buf, "JPEG", quality=THUMB_QUALITY)
        return buf.getvalue()


def genre_tags(taxonomy: Taxonomy, genre: str) -> list[str]:
    """The tag a release of ``genre`` carries: its first core tag, else its name."""
    if genre in taxonomy:
        core = taxonomy.get(genre).core
        if core:
            return [core[0]]
    return [genre.replace("_", " ")]


def folder_catalogue(
    files: Iterable[tuple[Path, str]],
    seed: int = 0,
    *,
    taxonomy: Taxonomy | None = None,
    tags: Mapping[str, list[str]] | None = None,
) -> FakeCatalogue:
    """A catalogue serving each ``(file, genre)`` as one tagged release with that front cover."""
    taxonomy = taxonomy or Taxonomy.load()
    items = sorted((str(Path(p)), g) for p, g in files)
    genres = sorted({g for _, g in items})
    tag_names = {g: list((tags or {}).get(g) or genre_tags(taxonomy, g)) for g in genres}
    cat = FakeCatalogue(seed, genres)
    for names_ in tag_names.values():
        cat.genre_names.update(names_)
    rng = random.Random(f"sleeve-folder-catalogue\x00{seed}")
    for i, (path, genre) in enumerate(items):
        key = (path, genre)
        artist_name = names.artist_name(genre, rng)
        artist = FakeArtist(
            id=mbid(seed, "folder-artist", *key),
            name=artist_name,
            sort_name=names.sort_name(artist_name),
            genre=genre,
            type="Group",
            country=None,
            tags=[Tag(t, 3) for t in tag_names[genre]],
            spotify_genres=[t.lower() for t in tag_names[genre]],
        )
        cat.artists[artist.id] = artist
        year = 1970 + i % 55
        rg = FakeReleaseGroup(
            id=mbid(seed, "folder-rg", *key),
            title=Path(path).stem,
            genre=genre,
            credits=[Credit(artist.id, artist.name)],
            primary_type="Album",
            secondary_types=[],
            first_release_date=str(year),
            tags=[Tag(t, 5) for t in tag_names[genre]],
        )
        cat.release_groups[rg.id] = rg
        rid = mbid(seed, "folder-release", *key)
        cat.releases[rid] = FakeRelease(
            id=rid,
            title=rg.title,
            release_group_id=rg.id,
            date=str(year),
            country=None,
            barcode=None,
            status="Official",
            packaging=None,
            track_count=10,
            tags=[],
            front=FileCover(genre, i, "original", path),
            image_id=10_000_000_000 + 2 * i,
        )
        rg.release_ids.append(rid)
    return cat


def folder_files(root: Path, mapping: Mapping[str, str]) -> list[tuple[Path, str]]:
    """``(file, genre)`` for every regular file (no links) under ``root/<Folder>/`` whose
    folder ``mapping`` names."""
    return [
        (p, mapping[d.name])
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.is_symlink() and d.name in mapping
        for p in sorted(d.iterdir())
        if p.is_file() and not p.is_symlink()
    ]


def catalogue_from_folder(
    root: Path,
    mapping: Mapping[str, str] | None = None,
    seed: int = 0,
    *,
    taxonomy: Taxonomy | None = None,
) -> FakeCatalogue:
    """:func:`folder_catalogue` of ``root/<Folder>/*``, folders mapped to genres as
    ``collect --from-folder`` maps them (``mapping`` first, then the taxonomy's aliases; an
    unmapped folder is a ``UsageError`` naming it)."""
    from sleeve.collector.folder_import import resolve_folders
    from sleeve.core.errors import UsageError

    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    taxonomy = taxonomy or Taxonomy.load()
    names_ = [d.name for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    resolved, _ = resolve_folders(taxonomy, names_, dict(mapping or {}))
    return folder_catalogue(folder_files(root, resolved), seed, taxonomy=taxonomy)
