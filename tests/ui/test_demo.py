"""The README's first command, small: fakes -> collect -> build-dataset -> train-and-evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sleeve.ui.demo import BANNER, MARKER, main, run_demo
from tests.conftest import fast_settings


def test_demo_runs_the_whole_pipeline_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = fast_settings(tmp_path, mb_rate=20.0)
    report = run_demo(
        settings,
        genres=["rap", "jazz", "classical"],
        per_genre=14,
        methods=("knn", "logreg"),
        epochs=1,
        progress=False,
    )
    out = capsys.readouterr().out
    assert BANNER in out and report.name == "report.html" and report.is_file()
    metrics = json.loads((report.parent / "metrics.json").read_text())
    assert metrics["best"]["method"] in {"knn", "logreg"}
    assert (report.parent / "model.pt").is_file()
    assert (tmp_path / "demo" / MARKER).is_file()
    assert (tmp_path / "demo" / "datasets" / "LATEST").is_file()


def test_demo_refuses_to_empty_a_directory_it_did_not_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "precious.txt").write_text("keep me")
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path))
    assert main(["--genres", "rap", "--per-genre", "5", "--no-progress"]) == 2
    assert "not made by sleeve demo" in capsys.readouterr().err
    assert (tmp_path / "demo" / "precious.txt").read_text() == "keep me"
