"""Reading a dataset export: what is refused, with which message, and what is skipped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sleeve.core.errors import DataError
from sleeve.core.vision.samples import CoverDataset
from sleeve.dataset.export import MANIFEST_COLUMNS, read_export, split_counts, write_export
from sleeve.training.data import load_export
from tests.synthetic import write_synthetic_export


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_synthetic_export(tmp_path / "export", per_split=(4, 2, 2), size=48)


def _rewrite_manifest(export: Path, keep) -> None:
    """Rewrite the export (through its owner) with only the rows ``keep`` accepts."""
    old = read_export(export)
    rows = [r for r in old.rows if keep(r)]
    blobs = {r.sha256: old.image_path(r).read_bytes() for r in rows}
    genres = sorted({r.genre for r in rows})
    card = replace(old.card, genres=genres, counts=split_counts(rows, genres))
    write_export(export, rows, blobs, card, lambda _card: "", progress=False)


def test_reads_the_contract(export: Path) -> None:
    ex = load_export(export)
    assert ex.genres == ["disco", "jazz", "metal"]
    assert len(ex.dataset_id) == 16
    assert ex.counts()["train"] == {"disco": 4, "jazz": 4, "metal": 4}
    assert [s.label for s in ex.split("test")] == [0, 0, 1, 1, 2, 2]
    assert ex.class_weights() == [1.0, 1.0, 1.0]
    x, y = CoverDataset(ex.split("val"), lambda im: im.size)[0]
    assert x == (48, 48) and y == 0


def test_missing_dataset_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*build-dataset"):
        load_export(tmp_path / "nope")


def test_dir_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"manifest\.csv is missing"):
        load_export(tmp_path)


@pytest.mark.parametrize("content", ["", ",".join(MANIFEST_COLUMNS) + "\n"])
def test_empty_manifest(tmp_path: Path, content: str) -> None:
    (tmp_path / "manifest.csv").write_text(content)
    with pytest.raises(DataError, match="empty"):
        load_export(tmp_path)


def test_one_class_is_refused(export: Path) -> None:
    _rewrite_manifest(export, lambda r: r.genre == "jazz")
    with pytest.raises(DataError, match=r"1 class\(es\).*jazz 4/2/2.*at least 2"):
        load_export(export)


def test_class_without_test_images_is_named_with_sizes(export: Path) -> None:
    _rewrite_manifest(export, lambda r: not (r.genre == "metal" and r.split == "test"))
    with pytest.raises(DataError) as err:
        load_export(export)
    message = str(err.value)
    assert "metal have no test images" in message
    assert "disco 4/2/2" in message and "metal 4/2/0" in message


def test_unreadable_images_are_skipped_and_counted(export: Path) -> None:
    train = sorted((export / "images" / "train" / "disco").iterdir())
    train[0].write_bytes(b"<html>not a cover</html>")
    data = train[1].read_bytes()
    train[1].write_bytes(data[: len(data) // 2])  # truncated JPEG
    train[2].unlink()
    ex = load_export(export)
    assert ex.counts()["train"]["disco"] == 1
    assert ex.skipped == {"html": 1, "truncated": 1, "missing-file": 1}  # intake's reasons


def test_unreadable_images_leaving_a_class_empty_fail_clearly(export: Path) -> None:
    for f in (export / "images" / "test" / "jazz").iterdir():
        f.write_bytes(b"garbage")
    with pytest.raises(DataError, match="jazz have no test images"):
        load_export(export)
