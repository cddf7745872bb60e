"""The one place the catalog is opened guards it (issue 21 #12, #13).

A catalog migrated by a newer sleeve (an alembic revision this one does not know) gave
``CommandError`` tracebacks in ``db upgrade``, ``build-dataset`` and ``collect``, and ``db
current`` printed it with exit 0. A bad ``SLEEVE_DATABASE_URL`` gave tracebacks too, and ``db
current`` created a SQLite file and its folder. Now: one line each, exit 4 (the catalog) or 2
(the setting), passwords masked, nothing created or modified.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

from sleeve.collector.cli import main as collect_main
from sleeve.core.catalog.db import open_catalog
from sleeve.core.cliutil import EXIT_STORAGE, EXIT_USAGE
from sleeve.dataset.cli import main as build_main
from sleeve.ui.catalog_cli import main as db_main
from tests.ui.test_exit_codes import one_error_line

FUTURE = "ffffffff_from_sleeve_99"
COMMANDS = [
    (db_main, ["upgrade"]),
    (db_main, ["current"]),
    (build_main, ["--no-progress"]),
    (collect_main, ["--genre", "pop", "--limit", "1", "--no-progress"]),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def newer_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(data))
    monkeypatch.setenv("MUSICBRAINZ_URL", "http://127.0.0.1:9/ws/2")  # never reached
    monkeypatch.setenv("COVERART_URL", "http://127.0.0.1:9")
    catalog = open_catalog(f"sqlite:///{data / 'catalog.db'}")
    with catalog.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    catalog.dispose()
    return data / "catalog.db"


@pytest.mark.parametrize(
    ("main", "argv"), COMMANDS, ids=lambda c: " ".join(c) if isinstance(c, list) else ""
)
def test_a_catalog_from_a_newer_sleeve_is_one_line_exit_4_and_untouched(
    newer_catalog: Path, main, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    before = _digest(newer_catalog)
    assert main(argv) == EXIT_STORAGE
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last == (
        f"error: the catalog is from a newer sleeve (revision {FUTURE}); upgrade sleeve "
        "(nothing was changed)"
    ), err
    assert "Traceback" not in err and err.count("error:") == 1
    assert _digest(newer_catalog) == before


def test_db_current_on_no_catalog_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(data))
    assert db_main(["current"]) == 0
    assert "not created yet" in capsys.readouterr().out
    assert not data.exists()


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("postgresql://ann:hunter2@127.0.0.1:1/sleeve", EXIT_STORAGE, "cannot reach the catalog"),
        ("mysql://ann:hunter2@127.0.0.1/sleeve", EXIT_USAGE, "'mysql' is not a catalog"),
        ("postgresql://ann:hunter2@db:port/sleeve", EXIT_USAGE, "is not a database URL"),
        ("ann:hunter2 at the db", EXIT_USAGE, "is not a database URL"),
    ],
    ids=["unreachable", "unsupported-dialect", "bad-port", "not-a-url"],
)
@pytest.mark.parametrize("argv", [["current"], ["upgrade"]], ids=["current", "upgrade"])
def test_a_bad_database_url_is_one_line_with_the_password_masked(
    url: str,
    code: int,
    says: str,
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLEEVE_DATABASE_URL", url)
    assert db_main(argv) == code
    err = one_error_line(capsys)
    assert says in err and "hunter2" not in err
    assert not (tmp_path / "data").exists()
