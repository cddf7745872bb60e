"""`sleeve analyze`: the page's contract on a tiny synthetic export, cached features reused,
determinism, the clusters' confusable regions, the UMAP -> t-SNE fallback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sleeve.core.vision.embeddings as embeddings
from sleeve.training.analyze import analysis
from sleeve.training.analyze.analysis import analyse, describe_clusters
from sleeve.training.analyze.cli import main
from sleeve.training.run import TrainConfig, train_and_evaluate
from sleeve.ui.cli import COMMANDS
from tests.synthetic import write_synthetic_export

GENRES = ("disco", "pop", "metal")  # disco and pop are both pinkish circles: confusable


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    export = write_synthetic_export(root / "export", GENRES, per_split=(12, 4, 6), size=64)
    config = TrainConfig(methods=("lda-knn",), image_size=64, batch_size=16, progress=False)
    result = train_and_evaluate(export, None, config, data_dir=root / "data")
    return export, result.run_dir, root / "data"


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(120, 16))
    x[y == 2, :4] += 5.0
    x[y == 1, 4] += 0.5
    splits = np.array(["train", "val", "test", "train"] * 30)
    return x, y, splits


def test_analyze_is_a_sleeve_command() -> None:
    assert COMMANDS["analyze"][0] == "sleeve.training.analyze.cli"


def test_analyze_run_reuses_cached_features_and_writes_the_page(
    trained, monkeypatch, capsys
) -> None:
    _export, run_dir, data_dir = trained
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(data_dir))
    monkeypatch.chdir(data_dir)

    def no_encoding(*args, **kwargs):
        raise AssertionError("features were re-encoded although the run cached them")

    monkeypatch.setattr(embeddings, "encode", no_encoding)
    assert main(["--run", str(run_dir), "--map", "tsne", "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    out = run_dir / "analysis"
    assert lines[-1] == str(out)
    assert any(line.startswith("confusable regions:") for line in lines)
    for name in ("analysis.md", "analysis.html", "analysis.json"):
        assert (out / name).is_file(), name
    assert (out / "figures" / "map.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "figures" / "trees.png").read_bytes().startswith(b"\x89PNG")
    doc = json.loads((out / "analysis.json").read_text())
    assert len(doc["points"]) == 3 * (12 + 4 + 6)
    assert {p["genre"] for p in doc["points"]} == set(GENRES)
    assert all(Path(p["path"]).is_file() for p in doc["points"])
    assert doc["map"]["method"] == "tsne"
    k = doc["clusters"]["k"]
    assert set(map(int, doc["clusters"]["silhouette_by_k"])) == set(range(3, 10))
    assert doc["clusters"]["silhouette_by_k"][str(k)] == max(
        doc["clusters"]["silhouette_by_k"].values()
    )
    assert sum(c["size"] for c in doc["clusters"]["items"]) == len(doc["points"])
    for c in doc["clusters"]["items"]:
        assert (out / c["strip"]).read_bytes()[:2] == b"\xff\xd8"
    assert np.asarray(doc["trees"]["centroid"]["distances"]).shape == (3, 3)
    assert "lda-knn" in doc["trees"]["confusion"]["source"]
    # the run's model is a projected one: separation before and after, test covers only
    assert doc["projection"] == "lda"
    for key in ("features", "projected"):
        rows = doc["separation"][key]
        assert len(rows) == 3 and all(r["covers"] == 12 for r in rows)
        assert [r["silhouette"] for r in rows] == sorted(r["silhouette"] for r in rows)
    assert "disco" in " ".join(doc["separation"]["features"][0]["pair"])
    md = (out / "analysis.md").read_text()
    assert "figures/trees.png" in md and "Confusable regions" in md
    assert (data_dir / "analysis" / "LATEST").read_text().strip() == str(out.resolve())


def test_analysis_is_deterministic_for_a_seed() -> None:
    x, y, splits = blobs()
    one = analyse(x, y, splits, ["a", "b", "c"], seed=1, map_method="tsne")
    two = analyse(x, y, splits, ["a", "b", "c"], seed=1, map_method="tsne")
    np.testing.assert_array_equal(one["map"]["coords"], two["map"]["coords"])
    np.testing.assert_array_equal(one["clusters"]["labels"], two["clusters"]["labels"])
    assert one["separation"] == two["separation"]


@pytest.mark.skipif(not analysis.umap_available(), reason="umap-learn not installed")
def test_umap_map_is_deterministic_for_a_seed() -> None:
    x, _y, _splits = blobs()
    one = analysis.embed_2d(analysis.reduce(x, 0), 0, "umap")
    two = analysis.embed_2d(analysis.reduce(x, 0), 0, "umap")
    assert one[1] == "umap"
    np.testing.assert_allclose(one[0], two[0])


def test_without_umap_the_map_falls_back_to_tsne(monkeypatch) -> None:
    monkeypatch.setattr(analysis, "umap_available", lambda: False)
    x, _, _ = blobs()
    coords, used = analysis.embed_2d(analysis.reduce(x, 0), 0, "auto")
    assert used == "tsne" and coords.shape == (120, 2)


def test_clusters_shared_by_genres_are_named_confusable_regions() -> None:
    points = np.eye(3)[[0] * 10 + [1] * 10 + [2] * 10]
    chosen = {
        "k": 3,
        "labels": np.repeat(np.arange(3), 10),
        "centres": np.eye(3),
        "points": points,
    }
    # cluster 0: all a; cluster 1: half b, half c; cluster 2: 7 c, 3 a
    y = np.array([0] * 10 + [1] * 5 + [2] * 5 + [2] * 7 + [0] * 3)
    items = {c["cluster"]: c for c in describe_clusters(chosen, y, ["a", "b", "c"])}
    assert not items[0]["confusable"] and items[0]["region"] is None
    assert items[1]["confusable"] and items[1]["region"] == "b + c"
    assert not items[2]["confusable"]  # 70 % one genre: not a shared region
    assert items[2]["genre_share"] == {"c": 0.7, "a": 0.3}


def test_analyze_without_a_dataset_says_what_to_run(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["--no-progress"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "build-dataset" in err[0]
