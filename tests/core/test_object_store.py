"""Covers and exports on an S3-protocol object store, against a real server on loopback
(moto_server as a subprocess: tests/s3_support.py), never an in-process mock."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sleeve.core.catalog.db import open_catalog
from sleeve.core.errors import DataError, StorageError
from sleeve.core.images.intake import inspect_image
from sleeve.core.images.store import ImageStore
from sleeve.core.objstore import open_bucket
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.export import read_export, write_export
from tests.conftest import fast_settings
from tests.dataset_support import cover, jpeg, write_tree
from tests.s3_support import S3_ENV, TEST_SECRET, S3Server, moto_server
from tests.synthetic import write_synthetic_export

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(S3_ENV)  # the credential chain s3fs and boto3 read, as a user's would be
    try:
        with moto_server() as server:
            yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def s3_settings(tmp_path: Path, s3: S3Server, prefix: str) -> Settings:
    return fast_settings(
        tmp_path / "data", store_url=f"s3://{s3.bucket}/{prefix}", store_endpoint=s3.endpoint
    )


def objects(s3: S3Server, prefix: str) -> dict[str, bytes]:
    client = s3.client()
    found = client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read() for o in found
    }


def test_store_puts_reads_and_verifies_on_s3(s3: S3Server, tmp_path: Path) -> None:
    store = ImageStore.from_settings(s3_settings(tmp_path, s3, "store-a"))
    data = jpeg(cover(1))
    info = inspect_image(data)
    rel = store.put(data, info)
    assert rel == f"images/{info.sha256[:2]}/{info.sha256}.jpg"
    assert store.put(data, info) == rel  # idempotent: content-addressed
    assert objects(s3, "store-a/") == {f"store-a/{rel}": data}
    assert not (tmp_path / "data" / rel).exists()  # nothing on the local disk
    assert store.exists(rel) and store.verify(rel, info.sha256)
    assert store.read(rel, info.sha256) == data
    # the read-through cache a build decodes from: a checked local copy at the same path
    local = store.local_path(rel, info.sha256)
    assert local == tmp_path / "data" / rel and local.read_bytes() == data

    s3.client().put_object(Bucket=s3.bucket, Key=f"store-a/{rel}", Body=data[:-10])
    assert not store.verify(rel, info.sha256)
    with pytest.raises(StorageError, match="no longer matches its sha256"):
        store.read(rel, info.sha256)
    assert not store.exists("images/00/missing.jpg")


def test_collect_then_db_check_on_s3_never_prints_credentials(
    s3: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sleeve.collector.folder_import import import_folder
    from sleeve.ui.catalog_cli import _check

    settings = s3_settings(tmp_path, s3, "store-b")
    tree = write_tree(
        tmp_path / "covers",
        {
            "HipHop": {"a.jpg": jpeg(cover(1)), "b.jpg": jpeg(cover(2))},
            "Pop": {"c.jpg": jpeg(cover(3))},
        },
    )
    catalog = open_catalog(settings.catalog_url)
    try:
        summary = import_folder(catalog, settings, Taxonomy.load(), tree, progress=False)
    finally:
        catalog.dispose()
    assert summary.new_images == 3
    stored = objects(s3, "store-b/images/")
    assert len(stored) == 3
    for key, data in stored.items():  # content-addressed: the key names the bytes' sha256
        assert Path(key).stem == hashlib.sha256(data).hexdigest()
    assert not (tmp_path / "data" / "images").exists()

    assert _check(settings) == 0
    out = capsys.readouterr().out
    assert "3 images checked: 0 missing, 0 changed" in out
    assert f"s3://{s3.bucket}/store-b" in out

    first = sorted(stored)[0]
    s3.client().put_object(Bucket=s3.bucket, Key=first, Body=b"not the cover any more")
    s3.client().delete_object(Bucket=s3.bucket, Key=sorted(stored)[1])
    assert _check(settings) == 1
    out = capsys.readouterr().out
    assert "3 images checked: 1 missing, 1 changed" in out
    assert TEST_SECRET not in out and "AKIA" not in out


def test_build_dataset_reads_covers_from_s3_and_exports_to_s3(s3: S3Server, tmp_path: Path) -> None:
    from sleeve.collector.folder_import import import_folder
    from sleeve.dataset.build import build_dataset

    settings = replace(s3_settings(tmp_path, s3, "store-c"), visual_dedup=False)
    layout = {
        g: {f"{i}.jpg": jpeg(cover(100 * n + i)) for i in range(12)}
        for n, g in enumerate(("Pop", "Jazz"))
    }
    catalog = open_catalog(settings.catalog_url)
    try:
        import_folder(
            catalog,
            settings,
            Taxonomy.load(),
            write_tree(tmp_path / "covers", layout),
            progress=False,
        )
        local = build_dataset(
            catalog, settings, Taxonomy.load(), progress=False, read_text=False, attributes="off"
        )
        remote = build_dataset(
            catalog,
            settings,
            Taxonomy.load(),
            progress=False,
            read_text=False,
            attributes="off",
            fmt="parquet",
            out=f"s3://{s3.bucket}/exports/one",
        )
    finally:
        catalog.dispose()
    assert local.dataset_id == remote.dataset_id
    assert local.export_dir is not None and read_export(local.export_dir).rows
    uploaded = objects(s3, "exports/one/")
    manifest = (Path(str(local.export_dir)) / "manifest.csv").read_bytes()
    assert uploaded["exports/one/manifest.csv"] == manifest
    shards = [k for k in uploaded if k.endswith(".parquet")]
    assert shards

    import pyarrow.parquet as pq
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3.endpoint})
    table = pq.read_table(f"{s3.bucket}/exports/one/data", filesystem=fs)
    assert table.num_rows == len(read_export(local.export_dir).rows)


def test_export_upload_is_visible_only_when_complete(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = write_synthetic_export(tmp_path / "tree", per_split=(4, 2, 2))
    ex = read_export(tree)
    sources = {r.sha256: ex.image_path(r) for r in ex.rows}
    url = f"s3://{s3.bucket}/exports/partial"

    from sleeve.core import objstore

    real_put = objstore.Bucket.put
    calls = {"n": 0}

    def failing_put(self: objstore.Bucket, name: str, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise StorageError("connection dropped")
        real_put(self, name, data)

    monkeypatch.setattr(objstore.Bucket, "put", failing_put)
    with pytest.raises(StorageError):
        write_export(
            url,
            ex.rows,
            sources,
            ex.card,
            lambda c: "",
            progress=False,
            fmt="webdataset",
            endpoint=s3.endpoint,
        )
    monkeypatch.undo()
    partial = objects(s3, "exports/partial/")
    assert partial and "exports/partial/manifest.csv" not in partial  # no export is visible

    other = write_synthetic_export(tmp_path / "other", per_split=(4, 2, 2), seed=5)
    ox = read_export(other)
    with pytest.raises(DataError, match="not empty and not a dataset export"):
        write_export(
            url,
            ox.rows,
            {r.sha256: ox.image_path(r) for r in ox.rows},
            ox.card,
            lambda c: "",
            progress=False,
            endpoint=s3.endpoint,
        )

    clean = f"s3://{s3.bucket}/exports/complete"
    write_export(
        clean,
        ex.rows,
        sources,
        ex.card,
        lambda c: "",
        progress=False,
        fmt="webdataset",
        endpoint=s3.endpoint,
    )
    assert (
        objects(s3, "exports/complete/")["exports/complete/manifest.csv"]
        == (tree / "manifest.csv").read_bytes()
    )
    with pytest.raises(DataError, match="holds another dataset export"):
        write_export(
            clean,
            ox.rows,
            {r.sha256: ox.image_path(r) for r in ox.rows},
            ox.card,
            lambda c: "",
            progress=False,
            endpoint=s3.endpoint,
        )
    bucket = open_bucket(clean, s3.endpoint)
    assert TEST_SECRET not in bucket.describe() and "s3://" in bucket.describe()
