"""The dataset export's one owner: its type, its one writer, its one reader and its LATEST.

An export is ``manifest.csv`` (one :class:`ManifestRow` per cover), ``card.json`` (a typed
:class:`DatasetCard`), ``card.md``, ``images/<split>/<genre>/<sha256>.<ext>`` and side tables
(``text.jsonl``, ``attributes.csv``). The manifest is rendered in memory first: its bytes define
the dataset id (:func:`dataset_id`, the only place it is computed). Everything is written into a
hidden temporary directory beside the destination and renamed into place, so a failed or
interrupted build leaves no half-written export behind. Training, predict, the app, the
synthetic demo data and the tests' builders read and write exports only through this module
(tests/test_owners.py checks that nothing else opens ``manifest.csv`` or hashes it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from sleeve.core.errors import DataError
from sleeve.core.fsutil import (
    atomic_write,
    read_pointer,
    sweep_stale,
    temp_prefix,
    widen_to_umask,
    write_pointer,
)
from sleeve.core.progress import bar as progress_bar
from sleeve.dataset.text.cover_text import TEXT_TABLE, read_text_table
from sleeve.dataset.text.extra_text import EXTRA_TEXT_TABLE, read_extra_text_table

MANIFEST = "manifest.csv"
CARD_JSON = "card.json"
CARD_MD = "card.md"
ATTRIBUTES_TABLE = "attributes.csv"
SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = (
    "path",
    "sha256",
    "phash",
    "genre",
    "split",
    "artist",
    "source",
    "group_id",
    "width",
    "height",
)
REQUIRED_COLUMNS = ("path", "sha256", "genre", "split")  # older/hand-made exports may lack more
GROUP_ID_NOTE = (
    "leak group: connected component of duplicate group, artist and release; never spans two splits"
)


@dataclass(frozen=True)
class ManifestRow:
    path: str  # relative to the export dir: images/<split>/<genre>/<sha256>.<ext>
    sha256: str
    phash: str
    genre: str
    split: str
    artist: str
    source: str
    group_id: str  # leak group; empty in hand-made manifests (the cover is its own group)
    width: int  # 0 where a hand-made manifest has no size
    height: int

    def values(self) -> tuple[object, ...]:
        """The row in MANIFEST_COLUMNS order."""
        return tuple(getattr(self, c) for c in MANIFEST_COLUMNS)

    def as_dict(self) -> dict[str, str]:
        """The row as the manifest's text cells (what a csv.DictReader would give)."""
        return {c: str(getattr(self, c)) for c in MANIFEST_COLUMNS}


@dataclass
class DatasetCard:
    """card.json, typed. Sections written by later stages (review, text, attributes) are None
    when absent; keys this version does not know are kept in ``extra`` on a round trip."""

    dataset_id: str
    genres: list[str]
    counts: dict[str, dict[str, int]]  # split -> genre -> covers
    class_weights: dict[str, float]
    oversample: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    duplicates: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    balance: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, Any] = field(default_factory=dict)
    group_id: str = GROUP_ID_NOTE
    created_with: str = "unknown builder"
    created_at: str | None = None  # not part of the dataset id (that is the manifest's hash)
    review: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None
    artists: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """card.json's object: the fields in declaration order, absent sections left out."""
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "extra" and getattr(self, f.name) is not None
        }
        return out | self.extra

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], dataset_id: str, genres: list[str]) -> DatasetCard:
        """A card from card.json's object; ``dataset_id``/``genres`` fill what it lacks."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in raw.items() if k in known}
        values.setdefault("counts", {})
        values.setdefault("class_weights", {})
        values.setdefault("oversample", {})
        values["dataset_id"] = raw.get("dataset_id") or dataset_id
        values["genres"] = sorted(set(raw.get("genres") or []) | set(genres))
        return cls(**values, extra={k: v for k, v in raw.items() if k not in known})


def render_manifest(rows: Sequence[ManifestRow]) -> bytes:
    """manifest.csv bytes: fixed columns, rows sorted by (split, genre, sha256), '\\n' endings."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row in sorted(rows, key=lambda r: (r.split, r.genre, r.sha256)):
        writer.writerow(row.values())
    return buf.getvalue().encode("utf-8")


def dataset_id(manifest: bytes) -> str:
    """The dataset id: the first 16 hex digits of the manifest's sha256 (the only place)."""
    return hashlib.sha256(manifest).hexdigest()[:16]


def rows_id(rows: Sequence[ManifestRow]) -> str:
    return dataset_id(render_manifest(rows))


def split_counts(rows: Sequence[ManifestRow], genres: Sequence[str]) -> dict[str, dict[str, int]]:
    counts = {s: dict.fromkeys(genres, 0) for s in SPLITS}
    for row in rows:
        counts[row.split][row.genre] += 1
    return counts


@dataclass(frozen=True)
class DatasetExport:
    """A dataset export as read from disk (or just written): rows in manifest order."""

    root: Path
    card: DatasetCard
    rows: tuple[ManifestRow, ...]

    @property
    def dataset_id(self) -> str:
        return self.card.dataset_id

    @property
    def genres(self) -> list[str]:
        return self.card.genres

    def image_path(self, row: ManifestRow) -> Path:
        return self.root / row.path

    def side_file(self, name: str) -> Path:
        """A side table beside the manifest (text.jsonl, attributes.csv); may not exist."""
        return self.root / name

    def row_dicts(self) -> list[dict[str, str]]:
        return [r.as_dict() for r in self.rows]

    @cached_property
    def words(self) -> dict[str, str]:
        """sha256 -> the words read on the cover (text.jsonl; empty when the export has none)."""
        return {sha: " ".join(w.text for w in ws) for sha, ws in self.word_table.items()}

    @cached_property
    def word_table(self) -> dict[str, list[Any]]:
        """sha256 -> the OCR words (with confidences) from text.jsonl; {} when absent."""
        path = self.side_file(TEXT_TABLE)
        try:
            return read_text_table(path)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None

    @cached_property
    def extra_words(self) -> list[tuple[str, str]]:
        """(genre, words) of the labelled covers the balancer left out (text_extra.jsonl, for
        the text rung only: dataset/text/extra_text.py); [] when absent."""
        path = self.side_file(EXTRA_TEXT_TABLE)
        try:
            rows = read_extra_text_table(path)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        return [(genre, " ".join(w.text for w in words)) for _, genre, words in rows]

    @property
    def has_text(self) -> bool:
        return self.side_file(TEXT_TABLE).is_file()


# -- reader ------------------------------------------------------------------------------------


def read_export(export_dir: Path | str) -> DatasetExport:
    """Read and check an export's manifest and card; every message says what to do."""
    root = Path(export_dir)
    manifest = root / MANIFEST
    if not root.is_dir():
        raise DataError(
            f"dataset export {root} does not exist; run build-dataset first or pass --dataset DIR"
        )
    if not manifest.is_file():
        raise DataError(f"{manifest} is missing: {root} is not a dataset export")
    card_path = root / CARD_JSON
    raw_card: dict[str, Any] = {}
    if card_path.is_file():
        try:
            loaded = json.loads(card_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{card_path} is not valid JSON: {exc}") from None
        raw_card = loaded if isinstance(loaded, dict) else {}
    raw = manifest.read_bytes()
    rows = _parse_rows(manifest, raw)
    card = DatasetCard.from_dict(raw_card, dataset_id(raw), sorted({r.genre for r in rows}))
    return DatasetExport(root, card, tuple(rows))


def _parse_rows(manifest: Path, raw: bytes) -> list[ManifestRow]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{manifest} is not UTF-8 text: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        raise DataError(
            f"{manifest} is empty: the dataset has no images; collect covers and "
            "run build-dataset again"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in reader.fieldnames]
    if missing:
        raise DataError(
            f"{manifest} lacks columns {missing}; expected {','.join(MANIFEST_COLUMNS)}"
        )
    rows = [_row(manifest, r) for r in reader]
    if not rows:
        raise DataError(
            f"{manifest} lists no images: the dataset is empty; collect covers and "
            "run build-dataset again"
        )
    bad = sorted({r.split for r in rows} - set(SPLITS))
    if bad:
        raise DataError(f"{manifest}: unknown split(s) {bad}; valid: {', '.join(SPLITS)}")
    return rows


def _row(manifest: Path, cells: dict[str, str]) -> ManifestRow:
    def number(name: str) -> int:
        value = (cells.get(name) or "").strip()
        try:
            return int(value) if value else 0
        except ValueError:
            raise DataError(f"{manifest}: {name} {value!r} is not a whole number") from None

    text = {c: cells.get(c) or "" for c in MANIFEST_COLUMNS if c not in ("width", "height")}
    return ManifestRow(**text, width=number("width"), height=number("height"))


# -- writer ------------------------------------------------------------------------------------


def write_export(
    export_dir: Path,
    rows: Sequence[ManifestRow],
    sources: Mapping[str, Path | bytes],  # sha256 -> stored file, or the image's bytes
    card: DatasetCard,
    card_md: Callable[[DatasetCard], str],  # card.md for people, from the card as written
    *,
    progress: bool = True,
    extra_files: Mapping[str, bytes] | None = None,  # side tables: text.jsonl, attributes.csv
) -> DatasetExport:
    """Write the export at ``export_dir`` (replacing an earlier export there). The card's
    dataset id is set from the manifest written. Returns the export as written."""
    export_dir = Path(export_dir)
    manifest = render_manifest(rows)
    card = replace(card, dataset_id=dataset_id(manifest))
    is_export = (export_dir / MANIFEST).is_file()
    if (
        export_dir.exists()
        and not is_export
        and (not export_dir.is_dir() or any(export_dir.iterdir()))
    ):
        raise DataError(
            f"--out {export_dir} exists and is not a dataset export; choose an empty or "
            "new directory"
        )
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_exports(export_dir.parent)
    tmp = Path(
        tempfile.mkdtemp(dir=export_dir.parent, prefix=temp_prefix(f".{export_dir.name}.tmp-"))
    )
    widen_to_umask(tmp, directory=True)  # mkdtemp's 0700 would stay on the export
    try:
        bar = progress_bar(len(rows), "export", progress=progress)
        with bar:
            for row in rows:
                dst = _inside(tmp, row.path)
                dst.parent.mkdir(parents=True, exist_ok=True)
                source = sources[row.sha256]
                if isinstance(source, bytes):
                    dst.write_bytes(source)
                else:
                    _link_or_copy(source, dst)
                bar.update()
        (tmp / MANIFEST).write_bytes(manifest)
        (tmp / CARD_JSON).write_text(
            json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        (tmp / CARD_MD).write_text(card_md(card), encoding="utf-8")
        for name, data in (extra_files or {}).items():
            _inside(tmp, name).write_bytes(data)
        _replace_dir(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DatasetExport(export_dir, card, tuple(sorted(rows, key=_order)))


def add_side_table(export: DatasetExport, name: str, data: bytes, **card_sections: Any) -> None:
    """Add a side table to an existing export (and its sections to card.json), atomically:
    for benchmarks that attach a table computed after the build. The manifest, hence the
    dataset id, is unchanged."""
    atomic_write(_inside(export.root, name), data)
    card = replace(export.card, **card_sections)
    atomic_write(export.root / CARD_JSON, json.dumps(card.to_dict(), indent=2) + "\n")


def _order(row: ManifestRow) -> tuple[str, str, str]:
    return (row.split, row.genre, row.sha256)


def _link_or_copy(src: Path, dst: Path) -> bool:
    """Hardlink ``src`` at ``dst`` (True), or copy it where links are impossible (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        shutil.copy2(src, dst)
        return False


def _inside(root: Path, relpath: str) -> Path:
    """``root / relpath``, refused unless it resolves to a path inside ``root``: a manifest path
    built from a hostile genre name (``../../x``) must not place files elsewhere."""
    root = root.resolve()
    target = (root / relpath).resolve()
    if Path(relpath).is_absolute() or not target.is_relative_to(root) or target == root:
        raise DataError(
            f"refusing to export {relpath!r}: it resolves outside the export directory "
            "(a genre or path that is not a safe name); fix the genre name and rebuild"
        )
    return target


def sweep_stale_exports(datasets_dir: Path) -> int:
    """Remove export temporaries (``.<id>.tmp-*``, ``.<id>.old-*``, ``.LATEST-*``) that killed
    builds left in ``datasets_dir``; a concurrent live build's are kept."""
    if not datasets_dir.is_dir():
        return 0
    removed = 0
    for marker in (".tmp-", ".old-"):  # directories only: --out may share a folder with others
        found = [p for p in datasets_dir.glob(f".?*{marker}*") if p.is_dir() and not p.is_symlink()]
        removed += sweep_stale(found, marker)
    return removed + sweep_stale(list(datasets_dir.glob(".LATEST-*")), ".LATEST-")


def _replace_dir(new: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, final)


# -- LATEST ------------------------------------------------------------------------------------


def write_latest(datasets_dir: Path, export_dir: Path) -> Path:
    """Point ``<data_dir>/datasets/LATEST`` at ``export_dir`` (written atomically)."""
    return write_pointer(datasets_dir, export_dir)


def latest_export(datasets_dir: Path) -> Path | None:
    """The export ``<data_dir>/datasets/LATEST`` names, or None when there is no pointer."""
    return read_pointer(datasets_dir)
