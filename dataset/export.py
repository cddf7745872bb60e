"""The dataset export's one owner: its type, its one writer, its one reader and its LATEST.

An export is ``manifest.csv`` (one :class:`ManifestRow` per cover), ``card.json`` (a typed
:class:`DatasetCard`), ``card.md``, the images and side tables (``text.jsonl``,
``attributes.csv``). The images sit in one of three layouts (``--format``): the ImageFolder tree
``images/<split>/<genre>/<sha256>.<ext>`` (the default), WebDataset tar shards or Parquet files
(:mod:`sleeve.dataset.shards`, with each cover's metadata, words and attributes beside its
bytes). The manifest, hence the dataset id, is the same in every layout: its ``path`` is the
cover's ImageFolder path, and card.json's ``export`` section lists the shards.

The manifest is rendered in memory first: its bytes define the dataset id (:func:`dataset_id`,
the only place it is computed). Everything is written into a hidden temporary directory beside
the destination and renamed into place, so a failed or interrupted build leaves no half-written
export behind. Training, predict, the app, the synthetic demo data and the tests' builders read
and write exports only through this module (tests/test_owners.py checks that nothing else opens
``manifest.csv`` or hashes it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from sleeve.core import csvfile
from sleeve.core.errors import DataError
from sleeve.core.fsutil import (
    atomic_write,
    read_pointer,
    sweep_stale,
    temp_prefix,
    widen_to_umask,
    write_pointer,
)
from sleeve.core.jsonrecord import JsonRecord, plain
from sleeve.core.objstore import is_url, open_bucket
from sleeve.core.progress import bar as progress_bar
from sleeve.dataset.card_sections import (
    ArtistsSection,
    AttributesSection,
    DuplicatesSection,
    ReviewSection,
    TextSection,
)
from sleeve.dataset.shards import (
    DEFAULT_FORMAT,
    FORMATS,
    Shard,
    ShardCover,
    ShardMember,
    index_shards,
    iter_shard,
    render_shard,
    shard_names,
    shard_plan,
)
from sleeve.dataset.text.cover_text import TEXT_TABLE, parse_text_table, read_text_table
from sleeve.dataset.text.extra_text import EXTRA_TEXT_TABLE, ExtraCover, read_extra_text_table

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
    duplicates: DuplicatesSection | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    balance: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, Any] = field(default_factory=dict)
    group_id: str = GROUP_ID_NOTE
    created_with: str = "unknown builder"
    created_at: str | None = None  # not part of the dataset id (that is the manifest's hash)
    review: ReviewSection | None = None
    text: TextSection | None = None
    attributes: AttributesSection | None = None
    artists: ArtistsSection | None = None
    export: dict[str, Any] | None = None  # sharded layouts: {"format", "shards"}; None = tree
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """card.json's object: the fields in declaration order, absent sections left out."""
        out = {
            f.name: plain(getattr(self, f.name))
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
        for name, section in _SECTIONS.items():
            if values.get(name) is not None:
                values[name] = section.from_dict(values[name])
        return cls(**values, extra={k: v for k, v in raw.items() if k not in known})


_SECTIONS: dict[str, type[JsonRecord]] = {
    "duplicates": DuplicatesSection,
    "review": ReviewSection,
    "text": TextSection,
    "attributes": AttributesSection,
    "artists": ArtistsSection,
}


def render_manifest(rows: Sequence[ManifestRow]) -> bytes:
    """manifest.csv bytes: fixed columns, rows sorted by (split, genre, sha256), '\\n' endings."""
    ordered = sorted(rows, key=lambda r: (r.split, r.genre, r.sha256))
    return csvfile.render(MANIFEST_COLUMNS, (row.values() for row in ordered)).encode("utf-8")


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

    @property
    def format(self) -> str:
        return str((self.card.export or {}).get("format") or DEFAULT_FORMAT)

    @property
    def shard_files(self) -> list[str]:
        """The shards' paths relative to the export, in card order ([] for the tree)."""
        return [str(s["file"]) for s in (self.card.export or {}).get("shards", [])]

    def image_path(self, row: ManifestRow) -> Path:
        """The cover's file in an ImageFolder export (sharded exports: :meth:`image_source`)."""
        if self.format != DEFAULT_FORMAT:
            raise DataError(
                f"{self.root} is a {self.format} export: its covers sit inside shards, not "
                "files; rebuild with --format imagefolder for a tool that needs files"
            )
        return self.root / row.path

    def image_source(self, row: ManifestRow) -> Path | ShardMember:
        """The cover's file, or (sharded) a picklable callable that reads its checked bytes."""
        if self.format == DEFAULT_FORMAT:
            return self.root / row.path
        member = self._members.get(row.sha256)
        if member is None:
            raise DataError(f"{self.root}: cover {row.sha256} is in the manifest but no shard")
        return member

    @cached_property
    def _members(self) -> dict[str, ShardMember]:
        return index_shards(self.root, self.shard_files)

    def iter_images(self) -> Iterator[tuple[ManifestRow, bytes]]:
        """Every cover with its bytes, in manifest order; sharded exports are read front to
        back, one shard at a time (the streaming path: no index, no seeks)."""
        by_sha = {r.sha256: r for r in self.rows}
        if self.format == DEFAULT_FORMAT:
            for row in self.rows:
                yield row, (self.root / row.path).read_bytes()
            return
        for rel in self.shard_files:
            for sha, data in iter_shard(self.root / rel):
                yield by_sha[sha], data

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
    def extra_covers(self) -> list[ExtraCover]:
        """The labelled covers the balancer left out (text_extra.jsonl, for the text rung only:
        dataset/text/extra_text.py): genre, words, artist evidence; [] when absent."""
        path = self.side_file(EXTRA_TEXT_TABLE)
        try:
            return read_extra_text_table(path)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None

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
    try:
        header, table = csvfile.read_rows(text)
    except csvfile.Error as exc:
        raise DataError(f"{manifest} is not a readable CSV table: {exc}") from None
    if not header:
        raise DataError(
            f"{manifest} is empty: the dataset has no images; collect covers and "
            "run build-dataset again"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{manifest} lacks columns {missing}; expected {','.join(MANIFEST_COLUMNS)}"
        )
    rows = [_row(manifest, r) for r in csvfile.as_dicts(header, table)]
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
    export_dir: Path | str,
    rows: Sequence[ManifestRow],
    sources: Mapping[str, Path | bytes],  # sha256 -> stored file, or the image's bytes
    card: DatasetCard,
    card_md: Callable[[DatasetCard], str],  # card.md for people, from the card as written
    *,
    progress: bool = True,
    extra_files: Mapping[str, bytes] | None = None,  # side tables: text.jsonl, attributes.csv
    fmt: str = DEFAULT_FORMAT,  # imagefolder | webdataset | parquet
    endpoint: str = "",  # an S3-protocol server for an s3:// export_dir (SLEEVE_STORE_ENDPOINT)
) -> DatasetExport | None:
    """Write the export at ``export_dir`` (replacing an earlier export there), a directory or
    an object-store URL (``s3://bucket/prefix``). The card's dataset id is set from the
    manifest written. Returns the export as written (None for a URL: nothing local to read)."""
    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    manifest = render_manifest(rows)
    card = replace(card, dataset_id=dataset_id(manifest))
    ordered = sorted(rows, key=_order)
    if is_url(export_dir):
        with tempfile.TemporaryDirectory(prefix="sleeve-export-") as stage:
            _stage(Path(stage), ordered, sources, card, card_md, progress, extra_files, fmt)
            _upload(Path(stage), str(export_dir), endpoint, manifest)
        return None
    export_dir = Path(export_dir)
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
        card = _stage(tmp, ordered, sources, card, card_md, progress, extra_files, fmt)
        _replace_dir(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DatasetExport(export_dir, card, tuple(ordered))


def _stage(
    tmp: Path,
    ordered: Sequence[ManifestRow],
    sources: Mapping[str, Path | bytes],
    card: DatasetCard,
    card_md: Callable[[DatasetCard], str],
    progress: bool,
    extra_files: Mapping[str, bytes] | None,
    fmt: str,
) -> DatasetCard:
    """Every file of the export, written into ``tmp``; returns the card as written."""
    if fmt == DEFAULT_FORMAT:
        _write_tree(tmp, ordered, sources, progress)
    else:
        covers = _shard_covers(ordered, sources, card.genres, extra_files or {})
        shards = _write_shards(tmp, fmt, covers, card.genres, progress)
        card = replace(card, export={"format": fmt, "shards": [s.as_dict() for s in shards]})
    (tmp / MANIFEST).write_bytes(render_manifest(ordered))
    (tmp / CARD_JSON).write_text(
        json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    (tmp / CARD_MD).write_text(card_md(card), encoding="utf-8")
    for name, data in (extra_files or {}).items():
        _inside(tmp, name).write_bytes(data)
    return card


def _upload(stage: Path, url: str, endpoint: str, manifest: bytes) -> None:
    """Copy a staged export to an object store, ``manifest.csv`` last. Each object appears
    whole or not at all (:mod:`sleeve.core.objstore`); a reader opens an export by its manifest, so
    until the last PUT there is no export there, and afterwards a complete one. A prefix holding
    a different export is refused: objects cannot be swapped in together as a directory is."""
    bucket = open_bucket(url, endpoint)
    existing = bucket.get(MANIFEST)
    if existing is not None and existing != manifest:
        raise DataError(
            f"--out {bucket.describe()} holds another dataset export; choose a new prefix "
            "(an object store cannot replace a whole export at once)"
        )
    if existing is None and bucket.listing():
        raise DataError(
            f"--out {bucket.describe()} is not empty and not a dataset export; choose an "
            "empty or new prefix"
        )
    files = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != MANIFEST)
    for path in files:
        bucket.put(path.relative_to(stage).as_posix(), path.read_bytes())
    bucket.put(MANIFEST, manifest)


def _write_tree(
    tmp: Path, rows: Sequence[ManifestRow], sources: Mapping[str, Path | bytes], progress: bool
) -> None:
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


def _write_shards(
    tmp: Path, fmt: str, covers: list[ShardCover], genres: Sequence[str], progress: bool
) -> list[Shard]:
    plan = shard_plan(covers)
    written = []
    bar = progress_bar(len(covers), f"export ({fmt})", progress=progress)
    with bar:
        for name, shard in zip(shard_names(fmt, plan), plan, strict=True):
            data = render_shard(fmt, shard, genres)
            dst = _inside(tmp, name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            written.append(Shard(name, shard[0].split, len(shard), digest))
            bar.update(len(shard))
    return written


def _shard_covers(
    rows: Sequence[ManifestRow],
    sources: Mapping[str, Path | bytes],
    genres: Sequence[str],
    side: Mapping[str, bytes],
) -> list[ShardCover]:
    """Each cover's bytes and metadata record: the manifest's columns, the label index, the
    words read on it (text.jsonl) and its attributes (attributes.csv) when the export has them."""
    label = {g: i for i, g in enumerate(genres)}
    words = _side_words(side.get(TEXT_TABLE))
    attrs = _side_attributes(side.get(ATTRIBUTES_TABLE))
    attr_columns = list(dict.fromkeys(k for a in (attrs or {}).values() for k in a))
    covers = []
    for row in rows:
        source = sources[row.sha256]
        image = source if isinstance(source, bytes) else Path(source).read_bytes()
        record: dict[str, Any] = {
            "sha256": row.sha256,
            "genre": row.genre,
            "label": label[row.genre],
            "split": row.split,
            "group_id": row.group_id or row.sha256,  # empty = the cover is its own group
            "artist": row.artist,
            "source": row.source,
            "phash": row.phash,
            "width": row.width,
            "height": row.height,
            "path": row.path,
        }
        if words is not None:
            record["text"] = words.get(row.sha256, "")
        if attrs is not None:  # every cover gets every column (None: not measured)
            record.update(dict.fromkeys(attr_columns) | attrs.get(row.sha256, {}))
        ext = row.path.rsplit(".", 1)[-1].lower() if "." in row.path else "jpg"
        covers.append(ShardCover(row.sha256, ext, row.split, image, record))
    return covers


def _side_words(table: bytes | None) -> dict[str, str] | None:
    if table is None:
        return None
    return {sha: " ".join(w.text for w in ws) for sha, ws in parse_text_table(table).items()}


def _side_attributes(table: bytes | None) -> dict[str, dict[str, Any]] | None:
    """attributes.csv as sha256 -> {column: number or text}; columns keep their CSV names."""
    if table is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for cells in csvfile.read_dicts(table.decode("utf-8")):
        sha = cells.pop("sha256", "")
        out[sha] = {k: _number_or_text(v) for k, v in cells.items() if k}
    return out


def _number_or_text(value: str) -> float | str | None:
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return value


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
