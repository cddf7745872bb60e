"""The sharded layouts of a dataset export: WebDataset tar shards and Parquet files.

Only :mod:`sleeve.dataset.export` (the export's owner) calls this module: it decides which
covers, in which order, with which metadata; this module turns them into shard bytes and finds a
cover inside shards again. Both layouts are read by other tools without sleeve:

- ``webdataset``: ``shards/<split>-NNNNN-of-MMMMM.tar``; per cover ``<sha256>.<jpg|png>`` (the
  image bytes), ``<sha256>.json`` (genre, split, sha256, group id, text, attributes, ...) and
  ``<sha256>.cls`` (the label index). Read by ``webdataset`` and ``load_dataset("webdataset")``.
- ``parquet``: ``data/<split>-NNNNN-of-MMMMM.parquet`` with an ``image`` struct column
  ``{bytes, path}`` and Hugging Face feature metadata (Image, ClassLabel), so
  ``load_dataset("parquet")`` decodes images and ``pyarrow`` reads plain columns.

The split-NNNNN-of-MMMMM names are the Hugging Face convention: ``load_dataset`` on the folder
finds the splits by itself. Shard bytes depend only on the covers and their metadata: tar
headers carry no time, owner or mode of this machine, and Parquet files are written with a fixed
row-group size and no per-write metadata, so the same build gives the same shards (for one
pyarrow version: its ``created_by`` string is part of the file).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleeve.core.errors import ConfigError, DataError

FORMATS = ("imagefolder", "webdataset", "parquet")
DEFAULT_FORMAT = "imagefolder"
SHARD_DIRS = {"webdataset": "shards", "parquet": "data"}
# ~1000 covers of ~80 KB = ~80 MB per shard: inside WebDataset's advice (100 MB - 1 GB shards
# stream well; far smaller ones cost a request each on object storage)
MAX_SHARD_COVERS = 1000
MAX_SHARD_BYTES = 256 * 1024 * 1024
ROW_GROUP = 64  # covers per Parquet row group: random access reads ~5 MB, not a whole file


@dataclass(frozen=True)
class ShardCover:
    """One cover as the shard writers take it: its key, bytes and metadata record."""

    sha256: str
    ext: str  # jpg, png, ...: the image member's extension
    split: str
    image: bytes
    record: Mapping[str, Any]  # JSON-able metadata (genre, label, split, sha256, group_id, ...)


@dataclass(frozen=True)
class Shard:
    """A written shard file as listed in card.json."""

    file: str  # relative to the export dir
    split: str
    covers: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "split": self.split,
            "covers": self.covers,
            "sha256": self.sha256,
        }


def shard_plan(covers: Sequence[ShardCover]) -> list[list[ShardCover]]:
    """Covers cut into shards: per split, in the given order, at most MAX_SHARD_COVERS covers or
    MAX_SHARD_BYTES of images per shard."""
    out: list[list[ShardCover]] = []
    current: list[ShardCover] = []
    size = 0
    for cover in covers:
        full = len(current) >= MAX_SHARD_COVERS or size + len(cover.image) > MAX_SHARD_BYTES
        if current and (cover.split != current[0].split or full):
            out.append(current)
            current, size = [], 0
        current.append(cover)
        size += len(cover.image)
    if current:
        out.append(current)
    return out


def shard_names(fmt: str, plan: Sequence[Sequence[ShardCover]]) -> list[str]:
    """``<dir>/<split>-NNNNN-of-MMMMM.<ext>`` for each planned shard, numbered per split."""
    ext = "tar" if fmt == "webdataset" else "parquet"
    totals: dict[str, int] = {}
    for shard in plan:
        totals[shard[0].split] = totals.get(shard[0].split, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for shard in plan:
        split = shard[0].split
        n = seen.get(split, 0)
        seen[split] = n + 1
        names.append(f"{SHARD_DIRS[fmt]}/{split}-{n:05d}-of-{totals[split]:05d}.{ext}")
    return names


def render_shard(fmt: str, covers: Sequence[ShardCover], genres: Sequence[str]) -> bytes:
    if fmt == "webdataset":
        return _render_tar(covers)
    if fmt == "parquet":
        return _render_parquet(covers, genres)
    raise DataError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")


def _render_tar(covers: Sequence[ShardCover]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for cover in covers:
            meta = json.dumps(cover.record, sort_keys=True, ensure_ascii=False).encode("utf-8")
            label = str(cover.record["label"]).encode("ascii")
            for suffix, data in ((cover.ext, cover.image), ("json", meta), ("cls", label)):
                info = tarfile.TarInfo(f"{cover.sha256}.{suffix}")
                info.size = len(data)
                info.mtime, info.mode, info.uid, info.gid = 0, 0o444, 0, 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _render_parquet(covers: Sequence[ShardCover], genres: Sequence[str]) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("--format parquet needs pyarrow: pip install 'sleeve[formats]'") from None

    columns = _record_columns(covers)
    images = [{"bytes": c.image, "path": f"{c.sha256}.{c.ext}"} for c in covers]
    arrays: dict[str, Any] = {
        "image": pa.array(images, pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    }
    features: dict[str, Any] = {"image": {"_type": "Image"}}
    for name, kind in columns.items():
        values = [c.record.get(name) for c in covers]
        if name == "label":
            arrays[name] = pa.array(values, pa.int64())
            features[name] = {"names": list(genres), "_type": "ClassLabel"}
        elif kind == "int":
            arrays[name] = pa.array(values, pa.int64())
            features[name] = {"dtype": "int64", "_type": "Value"}
        elif kind == "float":
            arrays[name] = pa.array(values, pa.float64())
            features[name] = {"dtype": "float64", "_type": "Value"}
        else:
            arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
            features[name] = {"dtype": "string", "_type": "Value"}
    table = pa.table(arrays)
    # Hugging Face datasets reads its feature types (Image, ClassLabel) from this key
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode("utf-8")}
    table = table.replace_schema_metadata(meta)
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        row_group_size=ROW_GROUP,
        compression={n: ("none" if n == "image" else "zstd") for n in table.column_names},
        write_statistics=[n for n in table.column_names if n != "image"],
        use_dictionary=[n for n in table.column_names if n in ("genre", "split", "source")],
    )
    return buf.getvalue()


def _record_columns(covers: Sequence[ShardCover]) -> dict[str, str]:
    """Column name -> int/float/str for every metadata key, in first-seen order (a column is a
    number only when every present value is one)."""
    kinds: dict[str, str] = {}
    for cover in covers:
        for name, value in cover.record.items():
            if value is None:
                kinds.setdefault(name, "")
                continue
            kind = (
                "int"
                if isinstance(value, int) and not isinstance(value, bool)
                else "float"
                if isinstance(value, float)
                else "str"
            )
            seen = kinds.get(name, "")
            kinds[name] = (
                kind
                if seen in ("", kind)
                else ("float" if {seen, kind} <= {"int", "float"} else "str")
            )
    return {n: (k or "str") for n, k in kinds.items()}


# -- finding covers again ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShardMember:
    """Where one cover's bytes sit inside a shard; calling it reads them and checks their
    sha256. Small and picklable, so data-loader workers read covers themselves."""

    shard: Path
    sha256: str
    offset: int  # tar: the member's data offset; parquet: the row group
    index: int  # tar: the member's size; parquet: the row inside the row group

    def __call__(self) -> bytes:
        if self.shard.suffix == ".tar":
            with self.shard.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read(self.index)
        else:
            data = _row_group_images(self.shard, self.offset)[self.index]
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise DataError(
                f"{self.shard}: cover {self.sha256} does not match its sha256 (the shard changed "
                "or is damaged); rebuild the export with build-dataset"
            )
        return data


@functools.lru_cache(maxsize=4)
def _row_group_images(shard: Path, group: int) -> list[bytes]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(shard).read_row_group(group, columns=["image"])
    return [cell["bytes"] for cell in table.column("image").to_pylist()]


def index_shards(root: Path, files: Sequence[str]) -> dict[str, ShardMember]:
    """sha256 -> its member, for every cover in the shard ``files`` (headers or one column
    read: the images themselves are not)."""
    out: dict[str, ShardMember] = {}
    for rel in files:
        path = root / rel
        if not path.is_file():
            raise DataError(f"{path} is missing: the export is incomplete; rebuild it")
        try:
            found = _index_tar(path) if path.suffix == ".tar" else _index_parquet(path)
        except (OSError, tarfile.TarError, ValueError) as exc:
            raise DataError(f"cannot read shard {path}: {exc}") from None
        out.update(found)
    return out


def _index_tar(path: Path) -> dict[str, ShardMember]:
    out = {}
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            key, _, suffix = member.name.partition(".")
            if suffix not in ("json", "cls") and member.isfile():
                out[key] = ShardMember(path, key, member.offset_data, member.size)
    return out


def _index_parquet(path: Path) -> dict[str, ShardMember]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    out = {}
    for group in range(pf.num_row_groups):
        shas = pf.read_row_group(group, columns=["sha256"]).column("sha256").to_pylist()
        for i, sha in enumerate(shas):
            out[sha] = ShardMember(path, sha, group, i)
    return out


def iter_shard(path: Path) -> Iterator[tuple[str, bytes]]:
    """(sha256, image bytes) in shard order, read front to back: the streaming path."""
    if path.suffix == ".tar":
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                key, _, suffix = member.name.partition(".")
                if suffix not in ("json", "cls") and member.isfile():
                    fh = tar.extractfile(member)
                    if fh is not None:
                        yield key, fh.read()
        return
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for group in range(pf.num_row_groups):
        table = pf.read_row_group(group, columns=["sha256", "image"])
        for sha, cell in zip(
            table.column("sha256").to_pylist(), table.column("image").to_pylist(), strict=True
        ):
            yield sha, cell["bytes"]
