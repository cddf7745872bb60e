"""One write-to-temp-then-rename helper (sleeve.core.fsutil.atomic_write / atomic_path)."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from sleeve.core.fsutil import atomic_path, atomic_write, current_umask

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sleeve", "collector", "dataset", "training")
# Renames left to the other half of issue 12, which gives the export and the run directory one
# owner each (dataset/export.py's directory swap and LATEST, training/run.py's LATEST): remove
# an entry once that module writes through sleeve.core.fsutil.
ALLOWED = {"sleeve/core/fsutil.py", "dataset/export.py", "training/run.py"}


def test_atomic_write_replaces_the_file_with_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")
    atomic_write(target, '{"a": 1}\n')
    atomic_write(tmp_path / "blob.bin", b"\x00\x01")
    assert target.read_text() == '{"a": 1}\n'
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin", "metrics.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"old model")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a mod")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_atomic_path_keeps_the_suffix_numpy_insists_on(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "features.npy", suffix=".npy") as tmp:
        assert tmp.name.endswith(".npy") and tmp.parent == tmp_path
        assert str(os.getpid()) in tmp.name  # sweepable: the owner's pid is in the name
        tmp.write_bytes(b"x")
    assert (tmp_path / "features.npy").read_bytes() == b"x"


def _renames(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("replace", "rename"):
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and (receiver.id == "os" or "tmp" in receiver.id.lower()):
            lines.append(node.lineno)
    return lines


def test_temp_then_rename_is_written_once() -> None:
    offenders = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in ALLOWED and (lines := _renames(path)):
                offenders[rel] = lines
    assert offenders == {}, (
        f"write through sleeve.core.fsutil.atomic_write/atomic_path: {offenders}"
    )
