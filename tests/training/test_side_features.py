"""Early fusion of side features (attributes, OCR words) with the image embedding: the block's
shapes and scaling, the rung names, model.pt without pickle, and a new cover predicted exactly
as at training."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sleeve.core.errors import ConfigError, UsageError
from sleeve.dataset.attributes.decode import load_view
from sleeve.dataset.attributes.export import render_csv
from sleeve.dataset.attributes.registry import EXTRACTORS
from sleeve.dataset.export import MANIFEST_COLUMNS, read_export
from sleeve.inference.classifier import Classifier
from sleeve.inference.side_features import (
    SideFeatures,
    check_extractors,
    fit_attr_block,
    fit_image_block,
    fit_text_block,
    parse_side,
    read_attribute_table,
)
from sleeve.training.run import TrainConfig, train_and_evaluate

TINY = dict(image_size=64, batch_size=16, progress=False, label_issues=False, select_min_val=0)
GENRES = ("country", "rap")
CHEAP = ("colour", "texture", "structure")


def test_rung_names_parse_to_their_blocks() -> None:
    s = parse_side("svc+attrs:colour")
    assert s is not None and s.image and s.head == "svc" and s.groups == ("colour",)
    s = parse_side("logreg+pca32+attrs+text-early")
    assert s is not None and s.pca == 32 and s.text and s.groups[0] == "colour"
    s = parse_side("attrs")
    assert s is not None and not s.image and len(s.groups) == 4
    for bad in ("svc", "text", "svc+attrs:hats", "pca8+attrs", "svc+nope", "knn+attrs"):
        assert parse_side(bad) is None, bad
    with pytest.raises(Exception, match="early-fusion"):
        TrainConfig(methods=("svc+attrs:hats",)).validate()


def test_blocks_standardise_on_train_and_weigh_each_block() -> None:
    rng = np.random.default_rng(0)
    attrs = rng.normal(5.0, 3.0, (40, 6))
    attrs[3, 2] = np.nan  # an unmeasured cover gets the train mean
    block = fit_attr_block(attrs, [f"colour.f{i}" for i in range(6)], {"colour": "colour"}, 0.5)
    z = block.transform(attrs)
    assert z.shape == (40, 6) and not np.isnan(z).any()
    assert np.allclose(z.mean(axis=0), 0.0, atol=1e-9)
    assert z.var(axis=0).sum() == pytest.approx(0.5)  # the block's total variance is its weight
    assert z[3, 2] == pytest.approx(0.0)

    image = rng.normal(0.0, 1.0, (40, 100))
    pca = fit_image_block(image, pca=8)
    zi = pca.transform(image)
    assert zi.shape == (40, 8) and zi.var(axis=0).sum() == pytest.approx(1.0)
    assert fit_image_block(image, None).transform(image).shape == (40, 100)

    texts = ["willie nelson", "johnny cash", "nas illmatic", "dr dre", ""] * 4
    text = fit_text_block(texts, dims=64)
    zt = text.transform(texts)
    assert zt.shape[0] == 20 and 1 <= zt.shape[1] <= 19  # SVD dims below the train covers
    side = SideFeatures([pca, block, text])
    both = side.transform(image[:20], attrs[:20], texts)
    assert both.shape == (20, 8 + 6 + zt.shape[1])
    heavier = side.with_side_weight(1.0, {"image": image, "attrs": attrs, "text": texts})
    assert heavier.block("attrs").transform(attrs).var(axis=0).sum() == pytest.approx(1.0)


def test_text_block_round_trips_as_plain_arrays(tmp_path: Path) -> None:
    texts = ["willie nelson", "johnny cash", "nas illmatic", "dr dre"] * 3
    side = SideFeatures([fit_text_block(texts, dims=4)])
    torch.save(side.to_dict(), tmp_path / "side.pt")
    back = SideFeatures.from_dict(torch.load(tmp_path / "side.pt", weights_only=True))
    assert np.allclose(back.transform(texts=texts), side.transform(texts=texts))


def _cover(genre: str, rng: random.Random) -> bytes:
    """Country: warm, bright, smooth; rap: cool, dark, noisy; the attributes separate them."""
    arr = np.zeros((96, 96, 3), dtype=np.uint8)
    base = (220, 170, 90) if genre == "country" else (40, 60, 110)
    noise = 8 if genre == "country" else 60
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    for c in range(3):
        jitter = rng.randint(-30, 30)
        pixels = base[c] + jitter + nrng.integers(-noise, noise + 1, (96, 96))
        arr[:, :, c] = np.clip(pixels, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _export(root: Path, per_split=(10, 6, 6), attributes: bool = True) -> Path:
    rng = random.Random(1)
    rows, attrs = [], {}
    extractors = [EXTRACTORS[n] for n in CHEAP]
    for split, n in zip(("train", "val", "test"), per_split, strict=True):
        for genre in GENRES:
            for _ in range(n):
                data = _cover(genre, rng)
                sha = hashlib.sha256(data).hexdigest()
                rel = f"images/{split}/{genre}/{sha}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
                rows.append([rel, sha, "0" * 16, genre, split, "a", "t", sha[:8], 96, 96])
                view = load_view(root / rel)
                attrs[sha] = {ex.name: ex.compute(view) for ex in extractors}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(sorted(rows, key=lambda r: (r[4], r[3], r[1])))
    (root / "manifest.csv").write_text(buf.getvalue())
    section = {
        "file": "attributes.csv",
        "extractors": dict.fromkeys(CHEAP, 1),
        "profile": {},
        "computed": {},
        "text_read": 0,
        "note": "test export",
    }
    card = {"genres": list(GENRES), "attributes": section}
    (root / "card.json").write_text(json.dumps(card))
    if attributes:
        (root / "attributes.csv").write_bytes(render_csv(list(attrs), attrs, extractors))
    return root


@pytest.fixture(scope="module")
def side_run(tmp_path_factory):
    export = _export(tmp_path_factory.mktemp("export"))
    config = TrainConfig(methods=("attrs", "svc+attrs:colour", "logreg+pca8+attrs"), **TINY)
    out = tmp_path_factory.mktemp("run")
    return export, train_and_evaluate(export, out, config)


def test_side_rungs_train_and_attributes_carry_the_signal(side_run) -> None:
    export, result = side_run
    methods = result.metrics.methods
    assert set(methods) == {"attrs", "svc+attrs:colour", "logreg+pca8+attrs"}
    assert methods["attrs"].val["weighted_f1"] >= 0.9  # colour and noise decide the genre
    params = methods["logreg+pca8+attrs"].params
    assert params["blocks"]["image"] == 8 and params["side_weight"] in (0.25, 0.5, 1.0)
    # the export was built with attributes: the table is there
    assert params["blocks"]["attrs"] == len(read_attribute_table(read_export(export)).columns)  # type: ignore[union-attr]
    assert methods["svc+attrs:colour"].params["attribute_groups"] == ["colour"]
    report = (result.run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Ablation: side features" in report
    assert "| svc+attrs:colour | image + attributes: colour |" in report
    assert "| logreg+pca8+attrs | image (PCA 8) + attributes |" in report


def _test_paths(export: Path) -> list[str]:
    """The test covers in the order of probabilities.npz (the manifest's, split by split)."""
    rows = [r.split(",") for r in (export / "manifest.csv").read_text().splitlines()[1:]]
    return [str(export / r[0]) for r in rows if r[4] == "test"]


def test_model_pt_loads_without_pickle_and_predicts_as_at_training(side_run) -> None:
    export, result = side_run
    payload = torch.load(result.run_dir / "model.pt", weights_only=True)  # plain values only
    assert payload["side"]["type"] == "side-features"
    expected = np.load(result.run_dir / "probabilities.npz")[f"{result.best_method}_test"]
    model = Classifier.load(result.run_dir)
    assert np.allclose(model.probabilities(_test_paths(export)), expected, atol=1e-6)
    assert model.predict(_test_paths(export)[0])[0].genre in GENRES


def test_image_and_attributes_rung_predicts_a_new_cover_as_at_training(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", per_split=(6, 4, 4))
    config = TrainConfig(methods=("svc+attrs",), **TINY)
    result = train_and_evaluate(export, tmp_path / "run", config)
    expected = np.load(result.run_dir / "probabilities.npz")["svc+attrs_test"]
    model = Classifier.load(result.run_dir)
    assert model.side is not None and model.side.needs_image
    assert np.allclose(model.probabilities(_test_paths(export)), expected, atol=1e-6)


def test_missing_attributes_file_is_one_clear_line(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", per_split=(3, 2, 2), attributes=False)
    with pytest.raises(ConfigError, match=r"no attributes\.csv: run build-dataset"):
        train_and_evaluate(export, tmp_path / "run", TrainConfig(methods=("svc+attrs",), **TINY))


def test_missing_extractor_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sleeve.dataset.attributes import registry

    monkeypatch.setattr(registry, "_has", lambda module: module != "skimage")
    with pytest.raises(ConfigError, match="pip install scikit-image"):
        check_extractors({"texture": "texture"})
    with pytest.raises(UsageError):
        check_extractors({"hats": "hats"})


def test_finetune_takes_attributes_beside_the_pooled_features(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", per_split=(6, 4, 4))
    config = TrainConfig(
        methods=("finetune",), epochs=1, finetune_size=64, finetune_attributes=True, **TINY
    )
    result = train_and_evaluate(export, tmp_path / "run", config)
    payload = torch.load(result.run_dir / "model.pt", weights_only=True)
    columns = payload["extra"]["params"]["attribute_columns"]
    assert payload["head"]["weight"].shape[1] == payload["backbone"]["feature_dim"] + len(columns)
    expected = np.load(result.run_dir / "probabilities.npz")["finetune_test"]
    model = Classifier.load(result.run_dir)
    assert np.allclose(model.probabilities(_test_paths(export)), expected, atol=1e-5)


def test_finetune_attributes_need_the_attributes_file(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", per_split=(3, 2, 2), attributes=False)
    config = TrainConfig(methods=("finetune",), epochs=1, finetune_attributes=True, **TINY)
    with pytest.raises(ConfigError, match=r"--finetune-attributes: .*no attributes\.csv"):
        train_and_evaluate(export, tmp_path / "run", config)


def test_finetune_attributes_take_the_side_groups_of_a_default_export(tmp_path: Path) -> None:
    """A default build's attributes.csv also has the style label and probabilities and the
    OCR's text share: the fine-tuned network takes the groups a new cover's extractors give
    (as ``attrs`` does), not a text label or a column no extractor computes."""
    from sleeve.dataset.attributes import style
    from sleeve.dataset.attributes.text_share import values_of
    from sleeve.training.data import load_export
    from sleeve.training.fit.finetune_side import net_attributes

    root = _export(tmp_path / "export", per_split=(3, 2, 2))
    table = read_attribute_table(read_export(root))
    assert table is not None
    cheap = [EXTRACTORS[n] for n in CHEAP]
    attrs: dict = {}
    for sha, row in table.rows.items():
        values = dict(zip(table.columns, row.tolist(), strict=True))
        attrs[sha] = {ex.name: {c: values[f"{ex.name}.{c}"] for c in ex.columns} for ex in cheap}
        attrs[sha]["colour"] |= {"palette": [], "palette_shares": []}
        probs = np.array([0.6, 0.3, 0.1])
        attrs[sha]["style"] = style.values_from(probs, np.array(style.STYLES))
        attrs[sha]["text"] = values_of([], 96, 96)  # read: no words
    wide = render_csv(list(attrs), attrs, [*cheap, EXTRACTORS["style"]])
    assert b"style.style" in wide and b"text.share" in wide
    (root / "attributes.csv").write_bytes(wide)
    net = net_attributes(load_export(root))
    assert {c.split(".", 1)[0] for c in net.block.columns} == set(CHEAP)
    assert set(net.block.extractors) == set(CHEAP)
