"""Import a class-per-folder cover dataset (``DIR/<Genre>/*.jpg``) into the catalog.

Each file becomes a ``Release`` known by its path relative to ``DIR`` (source ``folder``, kind
``file``), titled by the file stem, with no artist, and one ``GenreEvidence`` row saying which
folder it was filed under. The folder name is evidence, not a verdict: a byte-identical file
filed under two folders is stored once, linked to both releases, and the dataset builder's
label rule decides what to do with the conflict.

Every folder must map to a genre (taxonomy alias, or ``--map Folder=genre``) before anything is
written: silently mapping ``Electronic`` to ``edm`` or dropping ``Rock`` would change the
dataset's meaning without anyone noticing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sleeve.collector import records
from sleeve.core.catalog.db import Catalog
from sleeve.core.catalog.models import GenreEvidence, ReleaseSource
from sleeve.core.cliutil import printable
from sleeve.core.errors import BadImageError, UsageError
from sleeve.core.images.intake import ImageInfo, inspect_image, read_image_bytes
from sleeve.core.images.store import ImageStore
from sleeve.core.progress import Progress
from sleeve.core.progress import bar as progress_bar
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy, check_genre_name

SOURCE = "folder"
KIND = "file"
# One transaction per batch: a folder import has no remote calls to interleave, and a commit per
# file would make a large import many times slower on SQLite. A crash loses at most one
# batch, which the next (idempotent) run redoes.
BATCH = 500
PREPARE_THREADS = 4
_OUTSIDE = "link-outside-folder"  # skip reason: a link whose target is not under the folder


@dataclass
class ImportSummary:
    folder: Path
    mapping: dict[str, str]  # folder name -> genre
    added_genres: list[str] = field(default_factory=list)
    files: int = 0
    already_imported: int = 0
    new_releases: int = 0
    new_images: int = 0
    linked_existing_images: int = 0  # byte-identical to a cover already stored
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> files
    per_genre: Counter[str] = field(default_factory=Counter)  # new releases per genre

    def rows(self) -> list[tuple[str, object]]:
        rows: list[tuple[str, object]] = [
            ("files seen", self.files),
            ("already imported", self.already_imported),
            ("new releases", self.new_releases),
            ("new images", self.new_images),
            ("byte-identical to a stored cover", self.linked_existing_images),
            ("skipped", sum(self.skipped.values())),
        ]
        rows += [(f"  skipped: {reason}", n) for reason, n in sorted(self.skipped.items())]
        rows += [(f"  new in {genre}", n) for genre, n in sorted(self.per_genre.items())]
        return rows

    def report(self) -> str:
        mapped = ", ".join(f"{k}={v}" for k, v in sorted(self.mapping.items()))
        lines = [printable(f"imported {self.folder} ({mapped})")]
        if self.added_genres:
            added = printable(", ".join(self.added_genres))
            lines.append(f"  genres added outside the taxonomy: {added}")
        rows = [(printable(k), printable(v)) for k, v in self.rows()]
        width = max(len(k) for k, _ in rows)
        lines += [f"  {k:<{width}}  {v}" for k, v in rows]
        return "\n".join(lines)


def resolve_folders(
    taxonomy: Taxonomy, folder_names: list[str], mapping: dict[str, str] | None
) -> tuple[dict[str, str], list[str]]:
    """Map each folder name to a genre: ``mapping`` first, then the taxonomy's aliases.

    Returns (folder -> genre, genres that are not in the taxonomy and must be added). Raises
    ``UsageError`` naming every unmapped folder, before anything is written.
    """
    mapping = dict(mapping or {})
    for folder, genre in mapping.items():  # genres become folder names in every export
        check_genre_name(genre, f"--map, folder {folder!r}")
    unknown_keys = sorted(set(mapping) - set(folder_names))
    if unknown_keys:
        raise UsageError(
            f"--map names folders that do not exist: {', '.join(unknown_keys)} "
            f"(folders found: {', '.join(folder_names)})"
        )
    resolved: dict[str, str] = {}
    unmapped: list[str] = []
    for name in folder_names:
        target = mapping.get(name) or taxonomy.genre_for_folder(name)
        if target is None:
            unmapped.append(name)
        else:
            resolved[name] = target
    if unmapped:
        example = ",".join(f"{n}={n.lower()}" for n in unmapped)
        raise UsageError(
            f"folders that map to no genre: {', '.join(unmapped)}. Map them explicitly with "
            f"--map FOLDER=genre,... (e.g. --map {example}); a genre outside the taxonomy "
            f"({', '.join(sorted(taxonomy.genres))}) is added as a new genre"
        )
    new = sorted({g for g in resolved.values() if g not in taxonomy})
    return resolved, new


def _inside(path: Path, root_real: Path) -> Path | None:
    """``path`` with every link resolved when that stays inside ``root_real``, else None."""
    real = path.resolve()
    return real if real.is_relative_to(root_real) else None


def _class_folders(root: Path) -> tuple[list[str], list[str]]:
    """(class folder names, names that are links leading outside ``root``)."""
    root_real = root.resolve()
    names: list[str] = []
    outside: list[str] = []
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            (names if _inside(p, root_real) else outside).append(p.name)
    return names, outside


def _files(root: Path, folders: list[str]) -> Iterator[tuple[str, Path, Path | None]]:
    """(folder name, file, its real path or None when a link leads outside ``root``) in sorted
    order; hidden files (.DS_Store) are not covers. Linked folders are not descended into."""
    root_real = root.resolve()
    for name in folders:
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield name, path, _inside(path, root_real)


def import_folder(
    catalog: Catalog,
    settings: Settings,
    taxonomy: Taxonomy,
    folder: Path,
    mapping: dict[str, str] | None = None,
    progress: Progress = True,
) -> ImportSummary:
    """Import ``folder/<Class>/*`` as releases with folder evidence; idempotent."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    folders, linked_out = _class_folders(root)
    if not folders:
        raise UsageError(f"{root}: no class folders inside (expected {root}/<Genre>/*.jpg)")
    resolved, new_genres = resolve_folders(taxonomy, folders, mapping)
    for genre in new_genres:
        taxonomy.add_genre(genre)
    summary = ImportSummary(root, resolved, added_genres=new_genres)
    if linked_out:
        summary.skipped[_OUTSIDE] += len(linked_out)
    store = ImageStore.from_settings(settings)
    store.sweep_temporaries()  # a killed import's leftovers (a live writer's are kept)

    with catalog.session() as session:
        done = set(
            session.scalars(
                select(ReleaseSource.external_id).where(
                    ReleaseSource.source == SOURCE, ReleaseSource.kind == KIND
                )
            )
        )
    todo: list[tuple[str, Path, str, Path | None]] = []
    for name, path, real in _files(root, folders):
        summary.files += 1
        rel = path.relative_to(root).as_posix()
        if rel in done:
            summary.already_imported += 1
        else:
            todo.append((name, path, rel, real))

    bar = progress_bar(len(todo), "import", "file", progress=progress)
    batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
    # Reading, validating and storing files (full decode + fsync) runs in threads, one batch
    # ahead of the catalog writes: both release the GIL, and the writes stay in one thread.
    with bar, ThreadPoolExecutor(max_workers=PREPARE_THREADS) as pool:

        def submit(batch: list[tuple[str, Path, str, Path | None]]) -> list[Future]:
            return [pool.submit(_prepare, store, settings, real) for *_, real in batch]

        pending = submit(batches[0]) if batches else []
        for k, batch in enumerate(batches):
            prepared = [f.result() for f in pending]
            if k + 1 < len(batches):
                pending = submit(batches[k + 1])
            with catalog.session() as session:
                for (name, path, rel, _), outcome in zip(batch, prepared, strict=True):
                    _import_one(session, store, summary, name, resolved[name], path, rel, outcome)
            bar.update(len(batch))
    return summary


def _prepare(
    store: ImageStore, settings: Settings, real: Path | None
) -> tuple[bytes, ImageInfo] | BadImageError:
    """Read, validate and store one file (thread-safe: the store writes atomically).

    ``real`` is the file's resolved path (None: a link leading outside the folder, never
    read). Its size and type are checked before reading; failure details name the problem,
    never the file's bytes.
    """
    if real is None:
        return BadImageError(_OUTSIDE, "a symbolic link leading outside the imported folder")
    try:
        data = read_image_bytes(real, settings.max_image_bytes, follow_symlinks=False)
        info = inspect_image(data, max_bytes=settings.max_image_bytes)
    except BadImageError as exc:
        return exc
    store.put(data, info)
    return data, info


def _import_one(
    session: Session,
    store: ImageStore,
    summary: ImportSummary,
    folder_name: str,
    genre: str,
    path: Path,
    rel: str,
    outcome: tuple[bytes, ImageInfo] | BadImageError,
) -> None:
    if isinstance(outcome, BadImageError):
        summary.skipped[outcome.reason] += 1
        records.record_failure(
            session, url=str(path), reason=outcome.reason, detail=outcome.detail, source=SOURCE
        )
        return
    data, info = outcome
    release, created = records.upsert_release(
        session,
        source=SOURCE,
        ids={KIND: rel},
        title=path.stem,
        artist=None,
        url=str(path),
        merge_across_sources=False,  # file names say nothing about which album it is
    )
    if created:
        summary.new_releases += 1
        summary.per_genre[genre] += 1
    # Written directly rather than via records.add_evidence: the folder *is* the label, so its
    # target genre comes from the mapping, not from matching the folder name as a tag.
    if created or _has_no_folder_evidence(session, release.id, folder_name):
        session.add(
            GenreEvidence(
                release_id=release.id,
                source=SOURCE,
                kind="folder",
                name=folder_name,
                votes=1,
                target_genre=genre,
                strength="alias",
                weight=1.0,
            )
        )
    _, new_image = records.attach_cover(
        session, store, release, data, info, source=SOURCE, source_url=str(path)
    )
    if new_image:
        summary.new_images += 1
    else:
        summary.linked_existing_images += 1


def _has_no_folder_evidence(session: Session, release_id: int, folder_name: str) -> bool:
    row = session.scalar(
        select(GenreEvidence.id).where(
            GenreEvidence.release_id == release_id,
            GenreEvidence.source == SOURCE,
            GenreEvidence.kind == "folder",
            GenreEvidence.name == folder_name,
        )
    )
    return row is None
