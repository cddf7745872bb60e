"""Folder import: class-per-folder trees become releases with folder evidence, idempotently."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.models import CoverImage, Failure, GenreEvidence, Release, ReleaseImage
from sleeve.core.errors import UsageError
from sleeve.core.taxonomy import Taxonomy
from tests.conftest import shared_covers_or_skip
from tests.dataset_support import cover, jpeg, write_tree


def _count(catalog, model) -> int:
    with catalog.session() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    same = jpeg(cover(99))
    return write_tree(
        tmp_path / "covers",
        {
            "HipHop": {"a.jpg": jpeg(cover(1)), "b.jpg": jpeg(cover(2)), "twin.jpg": same},
            "Pop": {"c.jpg": jpeg(cover(3)), "twin-too.jpg": same, "broken.jpg": b"<html>no"},
        },
    )


def test_import_maps_folders_and_is_idempotent(sqlite_catalog, settings, tree) -> None:
    tax = Taxonomy.load()
    first = import_folder(sqlite_catalog, settings, tax, tree, progress=False)
    assert first.mapping == {"HipHop": "rap", "Pop": "pop"}
    assert (first.files, first.new_releases, first.new_images) == (6, 5, 4)
    assert first.linked_existing_images == 1  # twin.jpg == twin-too.jpg
    assert first.skipped == {"html": 1}
    assert _count(sqlite_catalog, Failure) == 1

    with sqlite_catalog.session() as s:
        twin = s.scalar(
            select(CoverImage).where(
                CoverImage.sha256.in_(
                    select(CoverImage.sha256)
                    .join(ReleaseImage)
                    .group_by(CoverImage.sha256)
                    .having(func.count() == 2)
                )
            )
        )
        assert twin is not None
        rel_ids = s.scalars(select(ReleaseImage.release_id).where(ReleaseImage.image_id == twin.id))
        folders = sorted(
            (e.name, e.target_genre, e.strength, e.weight)
            for e in s.scalars(select(GenreEvidence).where(GenreEvidence.release_id.in_(rel_ids)))
        )
        assert folders == [("HipHop", "rap", "alias", 1.0), ("Pop", "pop", "alias", 1.0)]
        release = s.scalar(select(Release).where(Release.title == "a"))
        assert release.artist_id is None and release.sources[0].external_id == "HipHop/a.jpg"

    counts = [_count(sqlite_catalog, m) for m in (Release, CoverImage, GenreEvidence)]
    again = import_folder(sqlite_catalog, settings, tax, tree, progress=False)
    assert again.already_imported == 5 and again.new_releases == 0 and again.new_images == 0
    assert [_count(sqlite_catalog, m) for m in (Release, CoverImage, GenreEvidence)] == counts


def test_unmapped_folders_error_lists_them_and_writes_nothing(
    sqlite_catalog, settings, tmp_path
) -> None:
    root = write_tree(
        tmp_path / "c",
        {
            "Rock": {"r.jpg": jpeg(cover(1))},
            "Electronic": {"e.jpg": jpeg(cover(2))},
            "Pop": {"p.jpg": jpeg(cover(3))},
        },
    )
    with pytest.raises(UsageError) as err:
        import_folder(sqlite_catalog, settings, Taxonomy.load(), root, progress=False)
    message = str(err.value)
    assert "Electronic, Rock" in message and "--map" in message
    assert "edm" not in message.split("(e.g.")[1].split(")")[0]  # never suggests Electronic=edm
    assert _count(sqlite_catalog, Release) == 0


def test_map_adds_a_genre_outside_the_taxonomy(sqlite_catalog, settings, tmp_path) -> None:
    root = write_tree(
        tmp_path / "c", {"Rock": {"r.jpg": jpeg(cover(1))}, "Pop": {"p.jpg": jpeg(cover(3))}}
    )
    tax = Taxonomy.load()
    summary = import_folder(sqlite_catalog, settings, tax, root, {"Rock": "rock"}, progress=False)
    assert summary.added_genres == ["rock"] and "rock" in tax
    assert summary.per_genre == {"rock": 1, "pop": 1}
    with pytest.raises(UsageError, match="do not exist: Metal"):
        import_folder(sqlite_catalog, settings, tax, root, {"Metal": "metal"}, progress=False)


def cross_genre_twins(shared: Path) -> dict[str, list[Path]]:
    """sha256 -> files, for byte-identical files filed under two or more genre folders."""
    by_sha: dict[str, list[Path]] = {}
    for f in sorted(shared.glob("*/*")):
        by_sha.setdefault(hashlib.sha256(f.read_bytes()).hexdigest(), []).append(f)
    return {k: v for k, v in by_sha.items() if len({p.parent.name for p in v}) > 1}


def link_subset(shared: Path, root: Path, twins: int, singles: int, seed: int = 0) -> int:
    """Hard-link (copy across devices) ``twins`` cross-genre byte-identical groups and
    ``singles`` other files: symbolic links out of an imported folder are refused."""
    groups = cross_genre_twins(shared)
    chosen = sorted(groups)
    random.Random(seed).shuffle(chosen)
    files = [f for sha in chosen[:twins] for f in groups[sha]]
    in_twins = {f for fs in groups.values() for f in fs}
    others = [f for f in sorted(shared.glob("*/*")) if f not in in_twins]
    files += random.Random(seed).sample(others, singles)
    for f in files:
        (root / f.parent.name).mkdir(parents=True, exist_ok=True)
        target = root / f.parent.name / f.name
        try:
            os.link(f, target)
        except OSError:
            shutil.copyfile(f, target)
    return len(files)


@pytest.mark.shared_data
def test_shared_covers_subset_links_cross_genre_twins(sqlite_catalog, settings, tmp_path) -> None:
    shared = shared_covers_or_skip()
    root = tmp_path / "subset"
    n = link_subset(shared, root, twins=30, singles=200)
    summary = import_folder(
        sqlite_catalog,
        settings,
        Taxonomy.load(),
        root,
        {"Electronic": "electronic", "Rock": "rock"},
        progress=False,
    )
    assert summary.files == n and summary.new_releases == n
    assert summary.linked_existing_images >= 30
