"""Learned spaces (LDA, weighted supervised contrastive): they separate overlapping genres on
held-out data, are stored as plain arrays, and round-trip through model.pt and Classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeve.core.errors import ModelFileError
from sleeve.inference.classifier import Classifier
from sleeve.inference.heads_runtime import head_probabilities, project
from sleeve.inference.model_check import check_head
from sleeve.training.analyze.separation import find_pair, pair_separation
from sleeve.training.fit.method_names import ALL_METHODS, PROJECTED_METHODS
from sleeve.training.fit.methods.projected import fit_projected_methods
from sleeve.training.fit.projection import (
    PROJECTIONS,
    fit_projection,
    pair_weights,
    train_confusion,
    weighted_supcon_loss,
)
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export

GENRES = ["a", "b", "c"]


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three genres in 40-D: c stands apart; a and b differ only along 2 of 40 noisy axes, so
    in the raw space (cosine) they overlap, while a linear map can find the axes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n)
    x = rng.normal(size=(3 * n, 40))
    x[:, :10] += 3.0  # a shared offset: cosine kNN sees mostly this
    x[y == 2, 10:20] += 4.0
    x[y == 1, 38:] += 1.6
    return x, y


@pytest.fixture(scope="module")
def data():
    x_tr, y_tr = blobs(80, 0)
    x_val, y_val = blobs(30, 1)
    x_te, y_te = blobs(30, 2)
    return {"train": x_tr, "val": x_val, "test": x_te}, {"train": y_tr, "val": y_val, "test": y_te}


def test_projected_methods_are_known_to_the_ladder() -> None:
    assert set(PROJECTED_METHODS) <= set(ALL_METHODS)
    assert tuple(f"{p}-{h}" for p in PROJECTIONS for h in ("knn", "svc")) == PROJECTED_METHODS


@pytest.mark.parametrize("name", PROJECTIONS)
def test_projection_separates_the_overlapping_pair_on_held_out_data(data, name) -> None:
    x, y = data
    before = find_pair(pair_separation(x["test"], y["test"], GENRES), "a", "b")
    proj = fit_projection(name, x["train"], y["train"], x["val"], y["val"], GENRES, seed=0)
    after = find_pair(pair_separation(project(proj, x["test"]), y["test"], GENRES), "a", "b")
    assert before is not None and after is not None
    assert after["silhouette"] > before["silhouette"] + 0.1, (before, after)
    assert after["knn_mix"] < before["knn_mix"]


def test_supcon_is_deterministic_for_a_seed(data) -> None:
    x, y = data
    one = fit_projection("supcon", x["train"], y["train"], x["val"], y["val"], GENRES, seed=3)
    two = fit_projection("supcon", x["train"], y["train"], x["val"], y["val"], GENRES, seed=3)
    for la, lb in zip(one["layers"], two["layers"], strict=True):
        assert torch.equal(la["weight"], lb["weight"])
    assert one["params"]["steps_chosen_on_val"] == two["params"]["steps_chosen_on_val"]


def test_confused_pairs_weigh_more_in_the_loss(data) -> None:
    x, y = data
    conf = train_confusion(x["train"], y["train"], 3)
    assert conf[0, 1] > conf[0, 2] and conf[0, 1] == conf[1, 0]  # a/b are the confused pair
    w = pair_weights(conf, strength=1.0)
    assert w[0, 1] == pytest.approx(2.0) and w[0, 0] == 1.0 and 1.0 <= w[0, 2] < w[0, 1]
    # the same embedding costs more when the pair it mixes up is weighted up
    emb = torch.nn.functional.normalize(torch.randn(30, 8, generator=torch.manual_seed(0)), dim=1)
    labels = torch.arange(30) % 3
    plain = weighted_supcon_loss(emb, labels, torch.ones(3, 3), 0.1)
    heavier = weighted_supcon_loss(emb, labels, torch.from_numpy(w).float(), 0.1)
    assert heavier > plain


def test_projected_head_is_plain_arrays_and_survives_weights_only_load(data, tmp_path) -> None:
    x, y = data
    fitted = fit_projected_methods(["lda-svc", "supcon-knn"], x, y, GENRES, seed=0)
    assert [f.method for f in fitted] == ["lda-svc", "supcon-knn"]
    for f in fitted:
        path = tmp_path / f"{f.method}.pt"
        torch.save({"head": f.head}, path)
        head = torch.load(path, weights_only=True)["head"]
        check_head(head, str(path), x["test"].shape[1], len(GENRES))
        inner = head_probabilities(head["head"], project(head["projection"], x["test"]))
        np.testing.assert_allclose(head_probabilities(head, x["test"]), inner)
        assert (head_probabilities(head, x["test"]).argmax(1) == y["test"]).mean() > 0.8


def test_projected_head_without_layers_is_refused(data) -> None:
    x, y = data
    (fitted,) = fit_projected_methods(["lda-knn"], x, y, GENRES)
    broken = {**fitted.head, "projection": {"layers": []}}
    with pytest.raises(ModelFileError, match="no usable layers"):
        check_head(broken, "model.pt", x["test"].shape[1], len(GENRES))


def test_projected_rungs_train_and_predict_end_to_end(tmp_path: Path) -> None:
    export = write_synthetic_export(tmp_path / "export", per_split=(12, 4, 4), size=64)
    config = TrainConfig(
        methods=("knn", "lda-knn", "lda-svc", "supcon-svc"),
        image_size=64,
        batch_size=16,
        progress=False,
    )
    result = train_and_evaluate(export, tmp_path / "run", config)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"knn", "lda-knn", "lda-svc", "supcon-svc"}
    assert metrics["methods"]["lda-svc"]["params"]["projection"] == "lda"
    # whichever won on val, the saved model reproduces the run's test predictions
    clf = Classifier.load(result.run_dir)
    test = sorted((export / "images" / "test").rglob("*.jpg"))
    assert len(clf.predict_batch(test, top_k=1)) == len(test)
    if result.best_method.startswith(("lda", "supcon")):
        assert clf.payload["head"]["type"] == "projected"
