"""build-dataset's attributes: all five groups by default, computed in the build's one pass over
the covers and cached; the option (or SLEEVE_BUILD_ATTRIBUTES) restricts them; bad covers are
counted, never fatal."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.db import Catalog
from sleeve.core.engine import LocalEngine
from sleeve.core.errors import ConfigError, UsageError
from sleeve.core.settings import Settings, load_settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.core.vision import runtime
from sleeve.dataset.attributes import store
from sleeve.dataset.attributes.base import Extractor
from sleeve.dataset.attributes.export import DEFAULT_EXPORT
from sleeve.dataset.attributes.registry import CHEAP, EXTRACTORS, GROUPS, resolve
from sleeve.dataset.build import BuildResult, build_dataset
from sleeve.dataset.cli import build_parser
from sleeve.dataset.per_cover import warm_build_caches
from tests.dataset_support import cover, jpeg, read_manifest, write_tree

ASTRONAUT_SPEC = importlib.util.find_spec("skimage")
ASTRONAUT = (
    Path(ASTRONAUT_SPEC.origin).parent / "data" / "astronaut.png"
    if ASTRONAUT_SPEC and ASTRONAUT_SPEC.origin
    else None
)


@pytest.fixture(autouse=True)
def _eager(monkeypatch: pytest.MonkeyPatch) -> None:
    # the build's attributes are under test, not the engine: no graph export on a shared CPU
    monkeypatch.setattr(runtime, "_choice", "torch")


def _strip() -> bytes:
    """The oddest shape the intake stores: 64 px wide, ten times as tall."""
    rng = np.random.default_rng(7)
    return jpeg(Image.fromarray(rng.integers(0, 256, (640, 64, 3), dtype=np.uint8)))


def _portrait() -> bytes:
    assert ASTRONAUT is not None
    return jpeg(Image.open(ASTRONAUT).convert("RGB"))


@pytest.fixture
def imported(sqlite_catalog: Catalog, settings: Settings, tmp_path: Path) -> Catalog:
    pop = {f"p{i}.jpg": jpeg(cover(i)) for i in range(2, 6)}
    if ASTRONAUT is not None:  # a portrait: the faces columns have a face to find
        pop["face.jpg"] = _portrait()
    rap = {f"h{i}.jpg": jpeg(cover(i)) for i in range(20, 24)}
    rap["strip.jpg"] = _strip()
    root = write_tree(tmp_path / "covers", {"Pop": pop, "HipHop": rap})
    import_folder(sqlite_catalog, settings, Taxonomy.load(), root, None, progress=False)
    return sqlite_catalog


def _images(catalog: Catalog) -> list[tuple[int, str, str]]:
    from sqlalchemy import select

    from sleeve.core.catalog.models import CoverImage

    with catalog.session() as s:
        rows = s.execute(select(CoverImage.id, CoverImage.sha256, CoverImage.path)).all()
    return [(int(i), str(sha), str(path)) for i, sha, path in rows]


def _table(out: Path) -> list[dict[str, str]]:
    with (out / "attributes.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _build(catalog: Catalog, settings: Settings, out: Path, **options: Any) -> BuildResult:
    options = {"read_text": False} | options  # the words are not under test: no OCR
    return build_dataset(catalog, settings, Taxonomy.load(), out=out, progress=False, **options)


def test_the_default_build_exports_all_five_groups_and_a_rerun_finds_them_cached(
    imported: Catalog, settings: Settings, tmp_path: Path
) -> None:
    assert DEFAULT_EXPORT == GROUPS
    default = replace(settings, build_attributes=Settings().build_attributes)  # "on"
    out = tmp_path / "export"
    first = _build(imported, default, out)
    faces = resolve("faces")[0].name  # faces-mtcnn, or faces-haar without facenet-pytorch
    names = ("colour", "texture", "structure", faces, "style")
    assert first.card.attributes is not None
    assert list(first.card.attributes.extractors) == list(names)
    # the build's one pass measured faces and style for every present cover
    present = len(_images(imported))
    [note] = [n for n in first.notes if n.startswith("per-cover pass")]
    assert f"{faces} {present}" in note and f"style {present}" in note
    assert "skipped" not in note
    for name in names:
        assert len(store.cached(imported, EXTRACTORS[name])) == present
    manifest = read_manifest(out)
    table = _table(out)
    assert sorted(r["sha256"] for r in table) == sorted(r["sha256"] for r in manifest)
    groups = {column.split(".", 1)[0] for column in table[0] if column != "sha256"}
    assert set(GROUPS) <= groups
    assert all(r["faces.face_count"] != "" and r["style.style"] for r in table)
    assert {r["style.style"] for r in table} <= {"photo", "illustration", "typography"}
    by_sha = {r["sha256"]: r for r in table}
    strip = by_sha[hashlib.sha256(_strip()).hexdigest()]
    assert strip["faces.face_count"] == "0" and strip["style.style"]  # measured, no failure
    if ASTRONAUT is not None and faces == "faces-mtcnn":
        portrait = by_sha[hashlib.sha256(_portrait()).hexdigest()]
        assert portrait["faces.face_count"] == "1" and portrait["faces.person"] == "1"
    profile = first.card.attributes.profile
    assert all("face" in p and "photo" in p for p in profile.values())
    assert "| genre | covers | face |" in (out / "card.md").read_text()

    again = _build(imported, default, tmp_path / "again")
    assert again.dataset_id == first.dataset_id  # attributes are no part of the dataset id
    assert not any(n.startswith("per-cover pass") for n in again.notes)  # nothing to compute
    assert again.card.attributes is not None
    computed = again.card.attributes.computed
    assert not computed["computed"] and computed["cached"][faces] == len(manifest)
    assert computed["cached"]["style"] == len(manifest)
    assert (tmp_path / "again" / "attributes.csv").read_bytes() == (
        out / "attributes.csv"
    ).read_bytes()


def test_the_option_and_the_setting_restrict_the_groups(
    imported: Catalog, settings: Settings, tmp_path: Path
) -> None:
    cheap = _build(imported, settings, tmp_path / "a", attributes="colour,texture,structure")
    columns = set(_table(tmp_path / "a")[0])
    assert {c.split(".", 1)[0] for c in columns if c != "sha256"} <= {*CHEAP, "text"}
    assert not any(c.startswith(("faces.", "style.")) for c in columns)
    assert cheap.card.attributes is not None
    assert list(cheap.card.attributes.extractors) == list(CHEAP)
    assert not store.cached(imported, EXTRACTORS["style"])  # never computed, not only hidden
    # without the option the setting decides (SLEEVE_BUILD_ATTRIBUTES)
    colour_only = load_settings({"SLEEVE_BUILD_ATTRIBUTES": "colour"}, env_file=None)
    assert colour_only.build_attributes == "colour"
    one = _build(imported, replace(settings, build_attributes="colour"), tmp_path / "b")
    assert one.card.attributes is not None and list(one.card.attributes.extractors) == ["colour"]
    assert one.dataset_id == cheap.dataset_id
    off = _build(imported, settings, tmp_path / "c", attributes="off")
    assert off.card.attributes is None and not (tmp_path / "c" / "attributes.csv").exists()
    # a bad name is one line before any cover is read, naming where it came from
    with pytest.raises(UsageError, match="unknown attribute extractor 'shape'"):
        _build(imported, settings, tmp_path / "d", attributes="colour,shape")
    with pytest.raises(ConfigError, match=r"^SLEEVE_BUILD_ATTRIBUTES='shape'"):
        _build(imported, replace(settings, build_attributes="shape"), tmp_path / "e")
    assert not (tmp_path / "d").exists() and not (tmp_path / "e").exists()


def test_the_cli_option_defaults_to_the_setting_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build_parser().parse_args([]).attributes is None  # None: the setting decides
    assert build_parser().parse_args(["--attributes", "colour"]).attributes == "colour"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "all five groups" in text and "SLEEVE_BUILD_ATTRIBUTES" in text
    assert "--attributes colour,texture,structure" in text


def _broken(name: str) -> Extractor:
    def fail(view: object) -> dict[str, object]:
        raise ValueError("an odd picture")

    return replace(EXTRACTORS[name], compute=fail)


def test_the_pass_counts_bad_covers_and_failing_stages_and_keeps_the_rest(
    imported: Catalog, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _images(imported)
    data_dir = Path(settings.data_dir)
    (data_dir / images[0][2]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    names = (resolve("faces")[0].name, "style")
    monkeypatch.setitem(EXTRACTORS, "style", _broken("style"))  # fails on every cover
    report = warm_build_caches(
        imported, data_dir, images, hash_algo=None, embed=False, words=False,
        attributes=names, engine=LocalEngine(1),
    )  # fmt: skip
    good = len(images) - 1
    assert report.covers == len(images)
    assert report.skipped == {"truncated": 1, "failed:style": good}
    assert report.computed == {names[0]: good}
    assert f"skipped failed:style {good}, truncated 1" in report.summary()
    assert len(store.cached(imported, EXTRACTORS[names[0]])) == good
    assert not store.cached(imported, EXTRACTORS["style"])


@pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None, reason="no facenet")
def test_mtcnn_finds_no_face_in_a_view_narrower_than_its_smallest_window() -> None:
    """facenet-pytorch raises on a picture under its 20 px minimum face (an empty image
    pyramid); such a strip has no face MTCNN could find."""
    from sleeve.dataset.attributes.base import CoverView
    from sleeve.dataset.attributes.faces import MTCNN

    strip = np.full((512, 12, 3), 128, np.uint8)
    values = MTCNN.compute(CoverView(rgb=strip, large=strip))
    assert values == {"face_count": 0, "largest_face_share": 0.0, "person": 0, "group": 0}


def _threads_after_faces_and_style(root: str, rel: str) -> tuple[int, str]:
    """In a pool worker: one batch of the pass with faces and style, then torch's threads."""
    import torch

    from sleeve.dataset.per_cover import Item, Plan, run_batch

    runtime.configure("torch")  # the threads are under test, not the graph: no export here
    names = (resolve("faces")[0].name, "style")
    [result] = run_batch(root, Plan(attributes=names), [Item("0" * 64, rel, attributes=names)])
    return torch.get_num_threads(), result.reason


def test_pass_workers_run_faces_and_style_on_one_thread_each(tmp_path: Path) -> None:
    """The pool uses the cores: each worker runs MTCNN and the style network on one thread."""
    from sleeve.core.procs import worker_pool

    (tmp_path / "c.jpg").write_bytes(jpeg(cover(3)))
    pool = worker_pool(2, "spawn")
    try:
        jobs = [pool.submit(_threads_after_faces_and_style, str(tmp_path), "c.jpg") for _ in "ab"]
        assert [job.result() for job in jobs] == [(1, ""), (1, "")]
    finally:
        pool.shutdown()
