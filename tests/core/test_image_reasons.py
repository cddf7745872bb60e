"""One set of failure reasons for an unreadable image, whoever reads it (issue 12): the intake,
the pHash step, cover attributes, OCR and training's probe name the same file the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sleeve.core.errors import BadImageError
from sleeve.core.images.intake import open_rgb
from sleeve.core.vision.samples import Sample, drop_unreadable
from sleeve.dataset.attributes.compute import _job as attributes_job
from sleeve.dataset.dedup.hashing import _hash_job
from sleeve.dataset.text.ocr import _read_job
from tests.images import jpeg


def _intake(path: Path) -> str:
    try:
        open_rgb(path)
    except BadImageError as exc:
        return exc.reason
    return ""


def _training(path: Path) -> str:
    kept, skipped = drop_unreadable(
        [Sample(path=path, sha256="0" * 64, genre="jazz", split="train", label=0)]
    )
    return "" if kept else next(iter(skipped))


READERS: dict[str, Callable[[Path], str]] = {
    "intake": _intake,
    "phash": lambda p: _hash_job((str(p), "phash"))[1],
    "attributes": lambda p: attributes_job((str(p), ()))[1],
    "ocr": lambda p: _read_job(str(p))[1],
    "training": _training,
}

BROKEN: dict[str, Callable[[Path], None]] = {
    "missing-file": lambda p: None,
    "empty": lambda p: p.write_bytes(b""),
    "html": lambda p: p.write_bytes(b"<!doctype html><html>rate limited</html>"),
    "json": lambda p: p.write_bytes(b'{"error": "not found"}'),
    "not-an-image": lambda p: p.write_bytes(b"\x00garbage" * 40),
    "truncated": lambda p: p.write_bytes(jpeg(size=256)[:900]),
    "not-a-file": lambda p: p.mkdir(),
}


@pytest.mark.parametrize("expected", sorted(BROKEN))
def test_every_reader_gives_the_same_reason(tmp_path: Path, expected: str) -> None:
    path = tmp_path / "cover.jpg"
    BROKEN[expected](path)
    got = {name: read(path) for name, read in READERS.items()}
    assert got == dict.fromkeys(READERS, expected)


def test_a_good_cover_has_no_reason(tmp_path: Path) -> None:
    path = tmp_path / "cover.jpg"
    path.write_bytes(jpeg(size=128))
    fast = {name: read for name, read in READERS.items() if name != "ocr"}  # no OCR engine run
    assert {name: read(path) for name, read in fast.items()} == dict.fromkeys(fast, "")
