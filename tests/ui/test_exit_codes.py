"""Faults end in one line on stderr and the documented exit code (issue 11 #11).

A full disk gave 35-40-line tracebacks (folder import, collect, build-dataset), a damaged
catalog.db a 120-line SQLAlchemy traceback, a garbage model.pt a torch message; "nothing to work
on yet" was exit 1, 1 and 2 depending on the command. Exit codes: README, "Exit codes".
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, text

from sleeve.collector.cli import main as collect_main
from sleeve.core.catalog.db import open_catalog
from sleeve.core.cliutil import EXIT_NOTHING_YET, EXIT_OK, EXIT_STORAGE
from sleeve.core.errors import StorageError
from sleeve.dataset.cli import main as build_main
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices
from sleeve.training.cli import main as train_main
from sleeve.ui.catalog_cli import main as db_main
from sleeve.ui.predict_cli import main as predict_main
from tests.dataset_support import cover, jpeg, write_tree


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray ./.env
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SLEEVE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SLEEVE_MB_RATE", "50")
    monkeypatch.setenv("SLEEVE_BACKOFF_BASE", "0.01")
    return tmp_path / "data"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def garbage(path: Path, size: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(11).randbytes(size))
    return path


def covers_folder(root: Path, per_genre: int = 6) -> Path:
    return write_tree(
        root,
        {
            "Pop": {f"{i}.jpg": jpeg(cover(i)) for i in range(per_genre)},
            "HipHop": {f"{i}.jpg": jpeg(cover(i + 50)) for i in range(per_genre)},
        },
    )


def fail_with_enospc(
    monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[..., bool] = lambda *a: True
) -> None:
    """``os.<name>`` raises ENOSPC (when ``when(*args)``): the disk is full from now on."""
    real = getattr(os, name)

    def full(*args: object, **kwargs: object) -> object:
        if when(*args):  # what the kernel says, with the path when the call names one
            named = [a for a in args[:1] if isinstance(a, str | os.PathLike)]
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *named)
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, full)


# -- nothing to work on yet ----------------------------------------------------------------------


def test_nothing_yet_is_the_same_code_for_every_command(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_main(["--no-progress"]) == EXIT_NOTHING_YET
    assert "collect" in one_error_line(capsys)
    assert train_main(["--no-progress"]) == EXIT_NOTHING_YET
    assert "build-dataset" in one_error_line(capsys)
    assert predict_main(["cover.jpg", "--no-progress"]) == EXIT_NOTHING_YET
    assert "train-and-evaluate" in one_error_line(capsys)


# -- disk full -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["fsync", "mkdir"])
def test_disk_full_during_folder_import(
    data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    call: str,
) -> None:
    """The store fsyncs every cover before renaming it, and makes a folder per hash prefix."""
    folder = covers_folder(tmp_path / "covers")
    images = str(data / "images")
    fail_with_enospc(monkeypatch, call, lambda *args: call == "fsync" or images in str(args[0]))
    code = collect_main(["--from-folder", str(folder), "--no-progress"])
    err = one_error_line(capsys)
    assert code == EXIT_STORAGE  # not 2, "not writable", as if it were a configuration error
    assert "disk full writing" in err and str(data) in err and "run the same command" in err


def test_disk_full_during_a_harvest_then_resume(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeServices(FakeCatalogue.generate({"rap": 20}, seed=5)) as fx:
        for key, value in fx.env().items():
            monkeypatch.setenv(key, value)
        with monkeypatch.context() as full:
            fail_with_enospc(full, "fsync")
            code = collect_main(["--genre", "rap", "--limit", "5", "--no-progress"])
            err = one_error_line(capsys)
        assert code == EXIT_STORAGE  # not 1, which means "paused"
        assert "disk full writing" in err and str(data) in err
        assert collect_main(["--genre", "rap", "--limit", "5", "--no-progress"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "resumed" in out and "5/5 new covers" in out


def test_disk_full_during_build_dataset(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert collect_main(["--from-folder", str(covers_folder(tmp_path / "c")), "--no-progress"]) == 0
    capsys.readouterr()
    datasets = str(data / "datasets")
    fail_with_enospc(monkeypatch, "mkdir", lambda path, *a: str(path).startswith(datasets))
    code = build_main(["--no-progress"])
    err = one_error_line(capsys)
    assert code == EXIT_STORAGE
    assert f"disk full writing {datasets}" in err


def test_a_full_catalog_database_is_a_storage_error(tmp_path: Path) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.dispose()  # new connections get the cap below, as if the disk had filled up
    event.listen(
        catalog.engine, "connect", lambda conn, _r: conn.execute("PRAGMA max_page_count=80")
    )
    with (
        pytest.raises(StorageError, match="disk full writing the catalog") as caught,
        catalog.session() as s,
    ):
        s.execute(text("CREATE TABLE filler (x BLOB)"))
        for _ in range(100):
            s.execute(text("INSERT INTO filler VALUES (randomblob(20000))"))
    assert str(tmp_path / "catalog.db") in str(caught.value)
    catalog.dispose()


# -- damaged files -------------------------------------------------------------------------------


def test_damaged_catalog_is_one_line_for_every_command(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = garbage(data / "catalog.db")
    for main, argv in (
        (build_main, ["--no-progress"]),
        (collect_main, ["--genre", "rap", "--limit", "1", "--no-progress"]),
        (db_main, ["current"]),
    ):
        assert main(argv) == EXIT_STORAGE, argv
        err = one_error_line(capsys)
        assert f"the catalog {db} is damaged" in err and "backup" in err


def test_garbage_model_file_is_one_line(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = garbage(tmp_path / "run" / "model.pt")
    image = tmp_path / "cover.jpg"
    image.write_bytes(jpeg(cover(1)))
    code = predict_main([str(image), "--model", str(model.parent), "--no-progress"])
    err = one_error_line(capsys)
    assert code == EXIT_STORAGE
    assert f"{model} is not a readable sleeve model" in err and "train-and-evaluate" in err
