"""The fast tier (`make test-fast`, `pytest -m "not slow"`): what tests/conftest.py marks slow."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO, SLOW_LIST, slow_tests


def defined_tests() -> set[str]:
    """``file.py::test_name`` of every test function under tests/."""
    found = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                found.add(f"{path.name}::{node.name}")
    return found


def test_every_listed_slow_test_exists() -> None:
    """A renamed or deleted test leaves a stale line that would mark nothing: fail instead."""
    assert slow_tests() - defined_tests() == set()


def test_list_reading_skips_comments_and_blank_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    listing = tmp_path / "slow.txt"
    listing.write_text("# measured\n\ntest_a.py::test_one  # 30 s\ntest_b.py::test_two\n")
    assert slow_tests(listing) == {"test_a.py::test_one", "test_b.py::test_two"}
    assert SLOW_LIST.is_file()


def test_service_markers_and_the_list_leave_the_fast_tier() -> None:
    """Collected with -m "not slow": the PostgreSQL variant of a catalog test and the browser
    tests are gone, the SQLite variant stays."""
    files = ["tests/core/test_catalog.py", "tests/ui/test_app.py"]
    fast_only = ["--co", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", *fast_only, *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "test_migrations_build_the_schema_and_are_idempotent[sqlite]" in out
    assert "[postgresql]" not in out
    assert "test_browser_smoke_and_screenshots" not in out
