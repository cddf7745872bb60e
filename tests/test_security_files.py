"""Security and fault regressions for the files sleeve writes (issue 11: cases 2, 6, 14, 18)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sleeve.collector.images import inspect_image
from sleeve.collector.store import ImageStore
from sleeve.dataset.build import build_dataset

from tests.test_dataset_build import _import
from tests.test_dataset_support import cover, jpeg, write_tree


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
) -> None:  # type: ignore[no-untyped-def]
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
