"""The Ray engine against a real local Ray head (tests/ray_support.py): same results as the
local engine, a worker killed with kill -9 loses nothing, build-dataset --engine ray exports
the same dataset as the local engine with every cached hash equal."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.db import open_catalog
from sleeve.core.catalog.models import CoverImage, ImageHash
from sleeve.core.engine import LocalEngine
from sleeve.core.engine_choice import engine_from_settings
from sleeve.core.errors import ConfigError, UsageError
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset import cli as build_cli
from sleeve.dataset.dedup.visual_settings import VisualDedup
from sleeve.dataset.export import latest_export
from tests.conftest import fast_settings
from tests.dataset_support import cover, jpeg, reencoded, resized, write_tree
from tests.ray_support import RayHead, free_port, worker_pids

pytestmark = pytest.mark.timeout(300)


def square_all(batch: Sequence[int]) -> list[int]:
    return [x * x for x in batch]


def slow_square_all(batch: Sequence[int]) -> list[int]:
    time.sleep(0.5)  # long enough for the test to find and kill the worker running it
    return [x * x for x in batch]


def test_ray_engine_yields_each_result_once(ray_head: RayHead) -> None:
    engine = engine_from_settings(fast_settings(Path("."), ray_address=ray_head.address), "ray")
    assert engine.name == "ray" and engine.workers == 2
    items = list(range(23))
    seen: dict[int, int] = {}
    for batch, results in engine.map_batches(square_all, items, batch_size=4):
        assert len(batch) == len(results)
        seen.update(zip(batch, results, strict=True))
    local = LocalEngine(1).map_batches(square_all, items, batch_size=4)
    assert seen == {x: r for batch, results in local for x, r in zip(batch, results, strict=True)}


def test_killed_worker_loses_nothing(ray_head: RayHead) -> None:
    """kill -9 of the worker process running a batch: Ray re-runs the task elsewhere."""
    engine = engine_from_settings(fast_settings(Path("."), ray_address=ray_head.address), "ray")
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            running = worker_pids(ray_head.temp_dir, "slow_square_all")
            if running:
                os.kill(running[0], signal.SIGKILL)
                killed.append(running[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    items = list(range(40))
    seen: dict[int, int] = {}
    for batch, results in engine.map_batches(slow_square_all, items, batch_size=4):
        seen.update(zip(batch, results, strict=True))
    killer.join()
    assert killed, "no worker was seen running the batch function"
    assert seen == {x: x * x for x in items}


def test_unreachable_address_is_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ray", reason="ray is not installed (pip install 'sleeve[ray]')")
    settings = fast_settings(Path("."), ray_address=f"127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match="no Ray cluster answers there"):
        engine_from_settings(settings, "ray")


def test_missing_extra_or_address_is_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="needs SLEEVE_RAY_ADDRESS"):
        engine_from_settings(fast_settings(Path(".")), "ray")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(UsageError, match=r"sleeve\[ray\]"):
        engine_from_settings(fast_settings(Path("."), ray_address="auto"), "ray")


def _covers(root: Path) -> Path:
    """Two genres, ~50 covers, with re-encoded and resized copies (near-duplicate groups)."""
    pop = {f"p{i}.jpg": jpeg(cover(i)) for i in range(26)}
    pop |= {"p1-q60.jpg": reencoded(1), "p2-small.jpg": resized(2)}
    rap = {f"h{i}.jpg": jpeg(cover(i)) for i in range(100, 124)}
    rap |= {"h100-q60.jpg": reencoded(100), "p3-small.jpg": resized(3)}
    return write_tree(root, {"Pop": pop, "HipHop": rap})


def _build_by_cli(monkeypatch, data_dir: Path, folder: Path, engine: str, address: str) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SLEEVE_VISUAL_DEDUP", "off")
    monkeypatch.setenv("SLEEVE_RAY_ADDRESS", address)
    settings = fast_settings(data_dir)
    catalog = open_catalog(settings.catalog_url)
    import_folder(catalog, settings, Taxonomy.load(), folder, None, progress=False)
    catalog.dispose()
    argv = ["--engine", engine, "--no-text", "--attributes", "off", "--no-progress", "--seed", "1"]
    assert build_cli.main(argv) == 0
    export = latest_export(data_dir / "datasets")
    assert export is not None
    return export.name


def _hashes(data_dir: Path) -> dict[str, str]:
    catalog = open_catalog(fast_settings(data_dir).catalog_url)
    with catalog.session() as session:
        query = select(CoverImage.sha256, ImageHash.algo, ImageHash.value).join(
            ImageHash, ImageHash.image_id == CoverImage.id
        )
        rows = {f"{sha}:{algo}": value for sha, algo, value in session.execute(query)}
    catalog.dispose()
    return rows


def test_build_dataset_on_ray_equals_local(ray_head: RayHead, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sleeve.dataset.dedup.hashing as hashing

    monkeypatch.setattr(hashing, "_CHUNK", 8)  # several batches, so several tasks
    folder = _covers(tmp_path / "covers")
    local_id = _build_by_cli(monkeypatch, tmp_path / "local", folder, "local", ray_head.address)
    ray_id = _build_by_cli(monkeypatch, tmp_path / "ray", folder, "ray", ray_head.address)
    assert ray_id == local_id
    manifests = [
        (tmp_path / d / "datasets" / ds_id / "manifest.csv").read_bytes()
        for d, ds_id in (("local", local_id), ("ray", ray_id))
    ]
    assert manifests[0] == manifests[1] and manifests[0].count(b"\n") > 20
    local_hashes, ray_hashes = _hashes(tmp_path / "local"), _hashes(tmp_path / "ray")
    assert ray_hashes == local_hashes and len(local_hashes) == 54


def test_geometric_check_on_ray_equals_local(
    ray_head: RayHead, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The visual stage's geometric check: pairs sent as (sha256, path) to Ray's workers get
    the verdicts the check gives in this process."""
    pytest.importorskip("cv2", reason="OpenCV is not installed")
    import sleeve.dataset.dedup.geometry as geometry
    from tests.visual_images import jpeg_bytes, recaptured, release

    monkeypatch.setattr(geometry, "PAIRS_PER_BATCH", 2)  # several tasks
    pictures = [release(1, 1), recaptured(release(1, 1)), release(1, 2), release(4, 4)]
    covers = []
    for k, img in enumerate(pictures):
        (tmp_path / f"c{k}.jpg").write_bytes(jpeg_bytes(img))
        covers.append((f"{k:064x}", f"c{k}.jpg"))
    (tmp_path / "bad.jpg").write_bytes(b"<html>not an image</html>")
    covers.append(("f" * 64, "bad.jpg"))
    pairs = [(i, j) for i in range(len(covers)) for j in range(i + 1, len(covers))]
    engine = engine_from_settings(fast_settings(tmp_path, ray_address=ray_head.address), "ray")
    on_ray = geometry.verify_pairs(pairs, covers, tmp_path, engine=engine)
    here = geometry.verify_pairs(pairs, covers, tmp_path)
    assert on_ray == here and list(on_ray) == pairs
    stage = VisualDedup()
    verdicts = [m.passes(stage.min_inliers, stage.max_disagreement) for m in here.values()]
    assert verdicts[0] and not all(verdicts)  # the re-capture confirmed, the look-alikes not


def _each_engine(
    ray_head: RayHead, tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """``local`` then ``ray``, each with its own data folder (SLEEVE_DATA_DIR) holding a fresh
    import of ``folder``, SLEEVE_RAY_ADDRESS pointing at the loopback head."""
    monkeypatch.setenv("SLEEVE_RAY_ADDRESS", ray_head.address)
    for engine in ("local", "ray"):
        data_dir = tmp_path / engine
        monkeypatch.setenv("SLEEVE_DATA_DIR", str(data_dir))
        settings = fast_settings(data_dir)
        catalog = open_catalog(settings.catalog_url)
        import_folder(catalog, settings, Taxonomy.load(), folder, None, progress=False)
        catalog.dispose()
        yield engine


def _text_rows(data_dir: Path) -> dict[str, tuple[str, str, int]]:
    from sleeve.core.catalog.models import CoverText

    catalog = open_catalog(fast_settings(data_dir).catalog_url)
    with catalog.session() as session:
        query = select(
            CoverText.sha256, CoverText.engine_version, CoverText.words, CoverText.n_words
        )
        rows = {sha: (version, words, n) for sha, version, words, n in session.execute(query)}
    catalog.dispose()
    return rows


def test_sleeve_text_on_ray_equals_local(ray_head: RayHead, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`sleeve text --engine ray`: Ray's workers read the words, this process writes them; the
    catalog ends with the rows `--engine local` writes (same words, boxes, confidences)."""
    pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")
    import sleeve.dataset.text.cover_text as cover_text
    from sleeve.dataset.text import cli as text_cli
    from tests.text_images import worded_jpeg

    monkeypatch.setattr(cover_text, "CHUNK", 1)  # one task per cover
    folder = write_tree(
        tmp_path / "covers",
        {
            "Pop": {"a.jpg": worded_jpeg("MADONNA"), "b.jpg": worded_jpeg("ABBA")},
            "HipHop": {"c.jpg": worded_jpeg("NAS"), "d.jpg": b"<html>not an image</html>"},
        },
    )
    for engine in _each_engine(ray_head, tmp_path, folder, monkeypatch):
        assert text_cli.main(["--engine", engine, "--no-progress"]) == 0
    local, ray = _text_rows(tmp_path / "local"), _text_rows(tmp_path / "ray")
    assert ray == local and sorted(n for _, _, n in local.values()) == [1, 1, 1]


def _attribute_rows(data_dir: Path) -> dict[tuple[str, str], str]:
    from sleeve.core.catalog.models import CoverAttribute

    catalog = open_catalog(fast_settings(data_dir).catalog_url)
    with catalog.session() as session:
        query = select(CoverAttribute.sha256, CoverAttribute.extractor, CoverAttribute.value_json)
        rows = {(sha, name): values for sha, name, values in session.execute(query)}
    catalog.dispose()
    return rows


def test_sleeve_attributes_on_ray_equals_local(
    ray_head: RayHead, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """`sleeve attributes --engine ray`: Ray's workers measure, this process stores; the catalog
    ends with the values `--engine local` stores, and the unreadable file is skipped on both."""
    from sleeve.dataset.attributes import cli as attributes_cli
    from tests.text_images import worded_jpeg

    folder = write_tree(
        tmp_path / "covers",
        {
            "Pop": {"a.jpg": worded_jpeg("MADONNA"), "b.jpg": worded_jpeg("ABBA")},
            "HipHop": {"c.jpg": worded_jpeg("NAS")},
        },
    )
    for engine in _each_engine(ray_head, tmp_path, folder, monkeypatch):
        argv = ["--engine", engine, "--only", "colour,structure", "--no-progress"]
        assert attributes_cli.main(argv) == 0
    local, ray = _attribute_rows(tmp_path / "local"), _attribute_rows(tmp_path / "ray")
    assert ray == local and len(local) == 6  # 3 covers x 2 extractors
