"""Every command is reachable, documented, and teaches by example (sqlite-utils' test_docs)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from sleeve.ui.cli import COMMANDS, main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SCRIPTS = ["collect", "build-dataset", "train-and-evaluate", "predict"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help_with_examples(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(COMMANDS[name][0])
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Examples" in out or "example" in out.lower(), f"{name} --help has no examples"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_is_in_the_readme(name: str) -> None:
    assert name in README


def test_umbrella_lists_commands_and_rejects_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


@pytest.mark.parametrize("script", SCRIPTS)
def test_console_scripts_are_installed(script: str) -> None:
    exe = Path(sys.executable).parent / script
    assert exe.exists(), f"{script} is not installed: pip install -e ."
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout
