"""One read and decode per cover feeds every build stage, with the values each stage computes
alone, through the engine it is given."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.db import Catalog
from sleeve.core.engine import LocalEngine
from sleeve.core.taxonomy import Taxonomy
from sleeve.core.vision import runtime
from sleeve.core.vision.embeddings import FeatureRecipe, cached_embeddings
from sleeve.core.vision.samples import Sample
from sleeve.dataset.attributes import store
from sleeve.dataset.attributes.decode import load_view
from sleeve.dataset.attributes.registry import EXTRACTORS
from sleeve.dataset.dedup.hashing import ensure_hashes, hash_image
from sleeve.dataset.dedup.visual import embedding_cache_root, visual_backbone
from sleeve.dataset.dedup.visual_settings import IMAGE_SIZE
from sleeve.dataset.per_cover import Item, Plan, run_batch, warm_build_caches
from sleeve.dataset.text.cover_text import catalog_images, ensure_text, load_text
from tests.dataset_support import write_tree
from tests.text_images import worded, worded_jpeg

pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")
CHEAP = ("colour", "texture", "structure")


class RecordingEngine(LocalEngine):
    """The local engine, in-process, noting every batch it is handed."""

    def __init__(self) -> None:
        super().__init__(1)
        self.batches: list[int] = []

    def map_batches(self, fn, items, batch_size) -> Iterator:  # type: ignore[no-untyped-def, override]
        for batch, results in super().map_batches(fn, items, batch_size):
            self.batches.append(len(batch))
            yield batch, results


@pytest.fixture(autouse=True)
def _eager(monkeypatch: pytest.MonkeyPatch) -> None:
    # the one-decode path is under test, not the engine: no graph export on a shared CPU
    monkeypatch.setattr(runtime, "_choice", "torch")


def _jpeg(path: Path, word: str, size: int) -> Path:
    buf = io.BytesIO()
    worded(word, size=size).save(buf, "JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    return path


def _features(path: Path) -> np.ndarray:
    """The visual stage's own embedding of one file (its decode, its transform)."""
    sample = Sample(path, "0" * 64, "", "", 0)
    backbone = visual_backbone()
    recipe = FeatureRecipe(IMAGE_SIZE)
    return cached_embeddings([sample], backbone, recipe, torch.device("cpu"), None, progress=False)


@pytest.mark.parametrize(("side", "decodes"), [(300, 2), (600, 3)])
def test_one_decode_per_draft_scale_feeds_every_stage(
    tmp_path: Path, side: int, decodes: int
) -> None:
    """300 px: the grey hash draft + one RGB decode for embedding, attributes and words;
    600 px: the embedding's draft lands on half scale, so one more decode, never four."""
    from sleeve.dataset.text.ocr import dumps, read_words

    path = _jpeg(tmp_path / "cover.jpg", "VINYL", side)
    plan = Plan("phash", IMAGE_SIZE, True, CHEAP)
    item = Item("0" * 64, path.name, 1, hash=True, embed=True, words=True, attributes=CHEAP)
    [result] = run_batch(str(tmp_path), plan, [item])
    assert result.reason == "" and result.decodes == decodes
    assert result.hash == hash_image(path)
    assert result.words == dumps(read_words(path))
    assert "VINYL" in (result.words or "")
    view = load_view(path)
    for name in CHEAP:
        assert result.attributes[name] == EXTRACTORS[name].compute(view)
    assert result.embedding is not None
    np.testing.assert_allclose(result.embedding, _features(path)[0], rtol=1e-4, atol=1e-5)


def test_an_unreadable_cover_is_counted_not_raised(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    item = Item("0" * 64, "bad.jpg", 1, hash=True, words=True)
    [result] = run_batch(str(tmp_path), Plan("phash", None, True), [item])
    assert result.reason and result.hash is None and result.words is None


@pytest.fixture
def covers_catalog(sqlite_catalog: Catalog, settings, tmp_path: Path) -> Catalog:  # type: ignore[no-untyped-def]
    covers = {
        "Pop": {"a.jpg": worded_jpeg("MADONNA"), "b.jpg": worded_jpeg("ABBA")},
        "HipHop": {"c.jpg": worded_jpeg("NAS"), "d.jpg": worded_jpeg("", background=(9, 90, 160))},
    }
    root = write_tree(tmp_path / "covers", covers)
    import_folder(sqlite_catalog, settings, Taxonomy.load(), root, progress=False)
    return sqlite_catalog


def _images(catalog: Catalog) -> list[tuple[int, str, str]]:
    from sqlalchemy import select

    from sleeve.core.catalog.models import CoverImage

    with catalog.session() as s:
        rows = s.execute(select(CoverImage.id, CoverImage.sha256, CoverImage.path)).all()
    return [(int(i), str(sha), str(path)) for i, sha, path in rows]


def test_the_pass_fills_each_stage_cache_through_the_engine(
    covers_catalog: Catalog, settings
) -> None:  # type: ignore[no-untyped-def]
    data_dir = Path(settings.data_dir)
    images = _images(covers_catalog)
    engine = RecordingEngine()
    report = warm_build_caches(
        covers_catalog,
        data_dir,
        images,
        hash_algo="phash",
        embed=True,
        words=True,
        attributes=CHEAP,
        engine=engine,
    )
    assert engine.batches and sum(engine.batches) == len(images)
    assert report.decodes == 2 * len(images)  # 300 px covers: grey draft + one RGB decode
    # every stage now finds its cache full, with the values it computes itself
    hashes, hash_report = ensure_hashes(covers_catalog, data_dir, [(i, p) for i, _, p in images])
    assert hash_report.computed == 0 and hash_report.cached == len(images)
    assert all(hashes[i] == hash_image(data_dir / p) for i, _, p in images)
    text = ensure_text(covers_catalog, data_dir, catalog_images(covers_catalog), progress=False)
    assert text.read == 0 and text.cached == len(images)
    words = {" ".join(w.text for w in ws) for ws in load_text(covers_catalog).values()}
    assert words == {"MADONNA", "ABBA", "NAS", ""}
    for name in CHEAP:
        assert set(store.cached(covers_catalog, EXTRACTORS[name])) == {s for _, s, _ in images}
    backbone, recipe = visual_backbone(), FeatureRecipe(IMAGE_SIZE)
    samples = [Sample(data_dir / p, s, "", "", 0) for _, s, p in images]
    root = embedding_cache_root(data_dir)
    cached = cached_embeddings(samples, backbone, recipe, torch.device("cpu"), root)
    fresh = cached_embeddings(samples, backbone, recipe, torch.device("cpu"), None)
    np.testing.assert_allclose(cached, fresh, rtol=1e-4, atol=1e-5)
    again = warm_build_caches(
        covers_catalog, data_dir, images, hash_algo="phash", embed=True, words=True,
        attributes=CHEAP, engine=engine,
    )  # fmt: skip
    assert again.covers == 0  # nothing left to do: a resumed build reads the caches


def test_ocr_stage_runs_on_the_engine_it_is_given(covers_catalog: Catalog, settings) -> None:  # type: ignore[no-untyped-def]
    engine = RecordingEngine()
    images: Sequence[tuple[str, str]] = catalog_images(covers_catalog)
    report = ensure_text(covers_catalog, settings.data_dir, images, engine=engine, progress=False)
    assert report.read == len(images) and sum(engine.batches) == len(images)


def test_a_png_shares_one_decode(tmp_path: Path) -> None:
    worded("PNG", size=300).save(tmp_path / "c.png")
    item = Item("0" * 64, "c.png", 1, hash=True, words=True, attributes=("colour",))
    [result] = run_batch(str(tmp_path), Plan("phash", None, True, ("colour",)), [item])
    assert result.hash == hash_image(tmp_path / "c.png")
    assert result.decodes == 2  # the hash's grey input and the RGB picture
    assert Image.open(tmp_path / "c.png").format == "PNG"


def test_hashing_runs_on_the_engine_it_is_given(covers_catalog: Catalog, settings) -> None:  # type: ignore[no-untyped-def]
    engine = RecordingEngine()
    images = [(i, p) for i, _, p in _images(covers_catalog)]
    hashes, report = ensure_hashes(covers_catalog, Path(settings.data_dir), images, engine=engine)
    assert report.computed == len(images) and sum(engine.batches) == len(images)
    assert all(hashes[i] == hash_image(Path(settings.data_dir) / p) for i, p in images)
