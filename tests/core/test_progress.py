"""Progress: one helper (sleeve.core.progress) builds every bar; no bar when stderr is not a
terminal (`make demo | tee log` wrote 75 KB of bar redraws), and a caller may pass a callback
instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sleeve.core import progress
from tests.images import jpeg

ROOT = Path(__file__).resolve().parents[2]


def test_a_command_with_stderr_piped_draws_no_bar(tmp_path: Path) -> None:
    folder = tmp_path / "covers"
    for genre in ("Rap", "Jazz"):
        (folder / genre).mkdir(parents=True)
        for k in range(3):
            (folder / genre / f"{k}.jpg").write_bytes(jpeg((40 * k, 90, 200), size=80))
    env = {
        **os.environ,
        "SLEEVE_DATA_DIR": str(tmp_path / "data"),
        "SLEEVE_DATABASE_URL": "",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "sleeve.collector.cli", "--from-folder", str(folder)],
        capture_output=True,  # stderr is a pipe, as under `| tee` (2>&1)
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"\r" not in done.stderr and b"\r" not in done.stdout
    assert b"6" in done.stdout  # it did import the covers (the summary counts them)


def test_a_callback_receives_the_counts() -> None:
    seen: list[int] = []
    with progress.bar(5, "work", progress=seen.append) as bar:
        bar.update(2)
        bar.update()
    assert seen == [2, 1]


def test_no_bar_without_a_terminal_or_when_switched_off(capsys) -> None:
    for wanted in (True, False, None):
        with progress.bar(3, "work", progress=wanted) as bar:
            bar.update(3)
    assert capsys.readouterr().err == ""  # pytest's captured stderr is not a terminal


def test_only_the_progress_helper_makes_bars() -> None:
    makers = [
        path.relative_to(ROOT).as_posix()
        for package in ("sleeve", "collector", "dataset", "training")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "progress.py" and "import tqdm" in path.read_text(encoding="utf-8")
    ]
    assert makers == []
