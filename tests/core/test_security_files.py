"""Security and fault regressions for the files sleeve writes (issue 11: cases 2, 6, 14, 18)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sleeve.core.errors import DataError, UsageError
from sleeve.core.images.intake import inspect_image
from sleeve.core.images.store import ImageStore
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.build import build_dataset
from sleeve.dataset.export import DatasetCard, ManifestRow, write_export
from tests.dataset.test_dataset_build import _import
from tests.dataset_support import cover, jpeg, write_tree
from tests.images import dead_pid


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def covers(tmp_path: Path) -> Path:
    """Two genres of eight distinct covers each, as a class-per-folder dataset."""
    pop = {f"p{i}.jpg": jpeg(cover(i)) for i in range(8)}
    rap = {f"h{i}.jpg": jpeg(cover(i)) for i in range(20, 28)}
    return write_tree(tmp_path / "covers", {"Pop": pop, "HipHop": rap})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_security_stored_covers_and_exports_respect_the_umask(
    umask_022,
    sqlite_catalog,
    settings,
    covers,
    tmp_path,
) -> None:
    data = jpeg(cover(3))
    rel = ImageStore(settings.data_dir).put(data, inspect_image(data))
    assert _mode(settings.data_dir / rel) == 0o644

    tax = _import(sqlite_catalog, settings, covers)
    out = tmp_path / "ds"
    build_dataset(sqlite_catalog, settings, tax, out=out, progress=False)
    assert _mode(out) == 0o755
    for name in ("manifest.csv", "card.json", "card.md"):
        assert _mode(out / name) == 0o644, name
    images = [p for p in (out / "images").rglob("*") if p.is_file()]
    assert images and {_mode(p) for p in images} == {0o644}
    assert _mode(settings.datasets_dir / "LATEST") == 0o644


# -- case 2: genre names become folder names ----------------------------------------------------
def test_security_map_genre_that_escapes_is_refused(
    covers: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from sleeve.collector.cli import main as collect_main

    data_dir = tmp_path / "a" / "b" / "c" / "data"
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    argv = ["--from-folder", str(covers), "--map", "Pop=../../../../ESCAPED,HipHop=rap"]
    assert collect_main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'../../../../ESCAPED'" in err and "safe" in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("ESCAPED*"))
    assert not (data_dir / "images").exists()  # refused before anything was written


@pytest.mark.parametrize("name", ["../x", "a/b", "", "Rock", ".hidden", "x" * 65, "pop\n"])
def test_security_unsafe_genre_names_are_refused_where_they_enter(
    name: str, tmp_path: Path, sqlite_catalog, settings, covers: Path
) -> None:
    from sleeve.collector.folder_import import import_folder

    with pytest.raises(UsageError, match="not a safe genre name"):
        Taxonomy.from_dict({"genres": {name: {"core": ["x"]}}})
    with pytest.raises(UsageError, match="not a safe genre name"):
        Taxonomy.load().add_genre(name)
    with pytest.raises(UsageError, match="not a safe genre name"):
        import_folder(
            sqlite_catalog,
            settings,
            Taxonomy.load(),
            covers,
            {"Pop": name, "HipHop": "rap"},
            progress=False,
        )


def test_security_exporter_refuses_paths_outside_its_directory(tmp_path: Path) -> None:

    src = tmp_path / "cover.jpg"
    src.write_bytes(jpeg(cover(1)))
    sha = "ab" * 32
    row = ManifestRow(
        f"images/train/../../../ESCAPED/{sha}.jpg",
        sha,
        "0" * 16,
        "../../ESCAPED",
        "train",
        "",
        "folder",
        "g1",
        160,
        160,
    )
    out = tmp_path / "datasets" / "ds"
    with pytest.raises(DataError, match="outside the export directory"):
        card = DatasetCard("", ["../../ESCAPED"], {}, {}, {})
        write_export(out, [row], {sha: src}, card, lambda _card: "", progress=False)
    assert not list(tmp_path.rglob("ESCAPED*")) and not out.exists()
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]  # its temporary is gone


def test_security_build_refuses_an_unsafe_genre_already_in_the_catalog(
    sqlite_catalog, settings, covers: Path, tmp_path: Path
) -> None:
    """A catalog written before genre names were checked: build-dataset refuses, writes nothing."""
    from sqlalchemy import update

    from sleeve.core.catalog.models import GenreEvidence

    tax = _import(sqlite_catalog, settings, covers)
    with sqlite_catalog.session() as s:
        s.execute(
            update(GenreEvidence)
            .where(GenreEvidence.target_genre == "pop")
            .values(target_genre="../../../ESCAPED")
        )
    with pytest.raises(UsageError, match="not a safe genre name"):
        build_dataset(sqlite_catalog, settings, tax, out=tmp_path / "ds", progress=False)
    assert not list(tmp_path.rglob("ESCAPED*")) and not (tmp_path / "ds").exists()


# -- case 14: files changed on disk are not exported under their old sha256 ---------------------
def test_tampered_files_are_skipped_and_counted_not_exported(
    sqlite_catalog, settings, covers: Path, tmp_path: Path
) -> None:
    from sleeve.core.catalog.integrity import check_integrity

    tax = _import(sqlite_catalog, settings, covers)
    stored = sorted((settings.data_dir / "images").glob("*/*.jpg"))
    emptied, changed = stored[0], stored[1]
    emptied.write_bytes(b"")
    changed.write_bytes(jpeg(cover(99)))  # a valid image, just not the one the row names
    report = check_integrity(sqlite_catalog, ImageStore(settings.data_dir))
    assert sorted(report.mismatched) == sorted([emptied.stem, changed.stem])

    out = tmp_path / "ds"
    result = build_dataset(sqlite_catalog, settings, tax, out=out, progress=False)
    exported = {p.stem for p in (out / "images").rglob("*.jpg")}
    assert exported and not exported & {emptied.stem, changed.stem}
    assert result.card.skipped["changed-file"] == 2
    assert any("changed-file 2" in line for line in result.summary_lines())
    assert "changed-file: 2" in (out / "card.md").read_text()
    manifest = (out / "manifest.csv").read_text()
    assert emptied.stem not in manifest and changed.stem not in manifest


# -- case 18: what a killed run leaves behind ---------------------------------------------------
def _aged(path: Path, seconds: float) -> Path:
    old = time.time() - seconds
    os.utime(path, (old, old))
    return path


def test_stale_temporaries_of_killed_runs_are_swept_live_ones_kept(
    sqlite_catalog, settings, covers: Path, tmp_path: Path
) -> None:
    tax = _import(sqlite_catalog, settings, covers)
    dead, live = dead_pid(), os.getpid()
    datasets = settings.datasets_dir
    datasets.mkdir(parents=True)
    shard = next((settings.data_dir / "images").iterdir())
    stale = [
        datasets / f".0123abcd.tmp-{dead}-k2j4",  # owner gone
        datasets / ".0123abcd.tmp-q8x1zz0a",  # no pid (an older sleeve's), an hour old
        datasets / f".0123abcd.old-{dead}",
        shard / f".tmp-{dead}-r2d2.part",
        shard / ".tmp-zz9plural.part",  # no pid, an hour old
    ]
    kept = [
        datasets / f".0123abcd.tmp-{live}-busy",  # a concurrent build still writing
        datasets / ".0123abcd.tmp-fresh0a1",  # no pid but recent: could be a live writer's
        shard / f".tmp-{live}-busy.part",
    ]
    for path in stale + kept:
        if path.suffix == ".part":
            path.write_bytes(b"half")
        elif not path.exists():
            path.mkdir()
            (path / "manifest.csv").write_text("x")
    _aged(stale[1], 3600)
    _aged(stale[4], 3600)
    build_dataset(sqlite_catalog, settings, tax, progress=False)
    assert [p.name for p in stale if p.exists()] == []
    assert all(p.exists() for p in kept)


def test_killed_hashing_keeps_what_it_computed(
    sqlite_catalog, settings, covers: Path, monkeypatch
) -> None:
    from sleeve.dataset.dedup import hashing

    tax = _import(sqlite_catalog, settings, covers)
    real_job, calls = hashing._hash_job, []

    def killed_at_the_tenth(job):
        calls.append(job)
        if len(calls) == 10:
            raise KeyboardInterrupt  # what Ctrl-C / a kill does mid-hashing
        return real_job(job)

    monkeypatch.setattr(hashing, "HASH_BATCH", 4)
    monkeypatch.setattr(hashing, "_hash_job", killed_at_the_tenth)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(sqlite_catalog, settings, tax, dry_run=True, progress=False)
    monkeypatch.setattr(hashing, "_hash_job", real_job)
    again = build_dataset(sqlite_catalog, settings, tax, dry_run=True, progress=False)
    assert again.hash_report.cached == 8  # two whole batches survived the kill
    assert again.hash_report.computed == 16 - 8


def test_folder_import_sweeps_a_killed_import_s_temporaries(
    sqlite_catalog, settings, covers: Path
) -> None:
    shard = settings.data_dir / "images" / "ab"
    shard.mkdir(parents=True)
    stale = shard / f".tmp-{dead_pid()}-x.part"
    live = shard / f".tmp-{os.getpid()}-y.part"
    for path in (stale, live):
        path.write_bytes(b"half")
    _import(sqlite_catalog, settings, covers)
    assert not stale.exists() and live.exists()
