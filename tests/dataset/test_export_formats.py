"""Sharded exports (WebDataset tar, Parquet) read back by other tools, without sleeve's reader:
``webdataset``, Hugging Face ``datasets`` (offline) and ``pyarrow``; and by training's loader."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from sleeve.core.errors import DataError
from sleeve.dataset.export import read_export, write_export
from tests.synthetic import write_synthetic_export

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_export(tmp_path_factory.mktemp("tree") / "export", per_split=(6, 2, 2))


def reexport(tree: Path, out: Path, fmt: str, side: dict[str, bytes] | None = None) -> Path:
    """The tree export written again in ``fmt`` (same rows, card and bytes)."""
    ex = read_export(tree)
    sources = {r.sha256: ex.image_path(r).read_bytes() for r in ex.rows}
    card = ex.card
    write_export(
        out, ex.rows, sources, card, lambda c: "# x\n", progress=False, extra_files=side, fmt=fmt
    )
    return out


def side_tables(tree: Path) -> dict[str, bytes]:
    ex = read_export(tree)
    first, second = ex.rows[0].sha256, ex.rows[1].sha256
    words = {"sha256": first, "words": [{"text": "LOUD", "confidence": 0.9, "box": []}]}
    attrs = f"sha256,colour.brightness,colour.name\n{first},0.25,red\n{second},0.5,blue\n"
    return {"text.jsonl": (json.dumps(words) + "\n").encode(), "attributes.csv": attrs.encode()}


def test_same_dataset_id_in_every_format_and_same_shard_bytes(tree: Path, tmp_path: Path) -> None:
    base = read_export(tree)
    for fmt in ("webdataset", "parquet"):
        a = read_export(reexport(tree, tmp_path / f"{fmt}-a", fmt))
        b = read_export(reexport(tree, tmp_path / f"{fmt}-b", fmt))
        assert a.dataset_id == b.dataset_id == base.dataset_id
        assert a.format == fmt and a.shard_files
        assert not (a.root / "images").exists()  # the covers live in the shards only
        for rel in a.shard_files:
            assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes()
        listed = {s["file"]: s["sha256"] for s in a.card.export["shards"]}
        for rel, digest in listed.items():
            assert hashlib.sha256((a.root / rel).read_bytes()).hexdigest() == digest
        # the owner's reader gives back each cover's exact bytes, streamed and by index
        streamed = dict((row.sha256, data) for row, data in a.iter_images())
        assert set(streamed) == {r.sha256 for r in base.rows}
        for row in base.rows:
            expected = base.image_path(row).read_bytes()
            assert streamed[row.sha256] == expected
            assert a.image_source(row)() == expected


def test_webdataset_reads_the_tar_shards(tree: Path, tmp_path: Path) -> None:
    wds = pytest.importorskip("webdataset")
    out = reexport(tree, tmp_path / "wds", "webdataset", side_tables(tree))
    ex = read_export(out)
    urls = [str(out / f) for f in ex.shard_files if "/train-" in f]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    train = [r for r in ex.rows if r.split == "train"]
    assert len(samples) == len(train)
    by_sha = {r.sha256: r for r in train}
    for s in samples:
        meta = s["json"]
        row = by_sha[s["__key__"]]
        assert isinstance(s["jpg"], Image.Image) and s["jpg"].size == (row.width, row.height)
        assert meta["genre"] == row.genre and meta["split"] == "train"
        assert meta["group_id"] == row.group_id and meta["sha256"] == row.sha256
        assert s["cls"] == ex.genres.index(row.genre)
        assert "text" in meta and "colour.brightness" in meta


def test_hugging_face_datasets_loads_parquet_and_webdataset(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets")
    base = read_export(tree)
    counts = {s: sum(1 for r in base.rows if r.split == s) for s in ("train", "val", "test")}

    pq_dir = reexport(tree, tmp_path / "pq", "parquet", side_tables(tree))
    files = {s: str(pq_dir / "data" / f"{s}-*.parquet") for s in counts}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "c1"))
    assert {s: ds[s].num_rows for s in counts} == counts
    first = ds["train"][0]
    assert isinstance(first["image"], Image.Image)
    assert ds["train"].features["label"].names == base.genres
    assert base.genres[first["label"]] == first["genre"]
    by_sha = {r.sha256: r for r in base.rows}
    assert first["group_id"] == by_sha[first["sha256"]].group_id
    assert "text" in ds["train"].column_names and "colour.brightness" in ds["train"].column_names

    wds_dir = reexport(tree, tmp_path / "wds", "webdataset")
    wds = datasets.load_dataset(
        "webdataset", data_dir=str(wds_dir / "shards"), cache_dir=str(tmp_path / "c2")
    )
    # found by the file names alone; Hugging Face calls the val split "validation"
    hf_name = {"train": "train", "val": "validation", "test": "test"}
    assert {s: wds[hf_name[s]].num_rows for s in counts} == counts
    sample = wds["validation"][0]
    assert isinstance(sample["jpg"], Image.Image)
    assert sample["json"]["split"] == "val"


def test_pyarrow_reads_plain_columns(tree: Path, tmp_path: Path) -> None:
    out = reexport(tree, tmp_path / "pq", "parquet", side_tables(tree))
    table = pq.read_table(str(out / "data"))  # the whole folder as one dataset
    base = read_export(tree)
    assert table.num_rows == len(base.rows)
    cols = table.to_pydict()
    for image, sha in zip(cols["image"], cols["sha256"], strict=True):
        assert hashlib.sha256(image["bytes"]).hexdigest() == sha
    assert sorted(set(cols["split"])) == ["test", "train", "val"]
    brightness = [v for v in cols["colour.brightness"] if v is not None]
    assert sorted(brightness) == [0.25, 0.5]  # attribute columns keep their numbers
    assert table.schema.field("colour.brightness").type == pa.float64()


def test_training_reads_sharded_exports_like_the_tree(tree: Path, tmp_path: Path) -> None:
    from sleeve.core.vision.samples import decode
    from sleeve.training.data import load_export

    plain = load_export(tree)
    for fmt in ("webdataset", "parquet"):
        sharded = load_export(reexport(tree, tmp_path / fmt, fmt))
        assert sharded.dataset_id == plain.dataset_id
        assert [s.sha256 for s in sharded.samples] == [s.sha256 for s in plain.samples]
        assert [s.label for s in sharded.samples] == [s.label for s in plain.samples]
        s = sharded.samples[3]
        assert s.read is not None and s.path.suffix in (".tar", ".parquet")
        assert decode(s.source()).size == decode(plain.samples[3].source()).size


def test_a_damaged_shard_is_reported_not_decoded(tree: Path, tmp_path: Path) -> None:
    out = reexport(tree, tmp_path / "wds", "webdataset")
    ex = read_export(out)
    member = ex.image_source(ex.rows[0])
    raw = bytearray(member.shard.read_bytes())
    raw[member.offset + 200] ^= 0xFF  # flip one byte inside the first cover's JPEG
    member.shard.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="does not match its sha256"):
        read_export(out).image_source(ex.rows[0])()


def test_unknown_format_is_one_clear_error(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="valid: imagefolder, webdataset, parquet"):
        reexport(tree, tmp_path / "x", "zip")
    assert not (tmp_path / "x").exists()
    assert os.listdir(tmp_path) == []
