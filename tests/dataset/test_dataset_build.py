"""build_dataset end to end on generated covers: dedup, labels, leak-free split, export."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from sleeve.collector.folder_import import import_folder
from sleeve.collector.records import Evidence
from sleeve.core.errors import DataError, UnknownGenreError
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.build import build_dataset
from sleeve.dataset.labels import BYTE_IDENTICAL, MULTI_GENRE, NEAR_DUPLICATE
from tests.collector.test_folder_import import link_subset
from tests.conftest import shared_covers_or_skip
from tests.dataset_support import (
    add_release,
    cover,
    jpeg,
    read_manifest,
    reencoded,
    resized,
    write_tree,
)


def _import(catalog, settings, root: Path, mapping=None) -> Taxonomy:
    tax = Taxonomy.load()
    import_folder(catalog, settings, tax, root, mapping, progress=False)
    return tax


def _build(catalog, settings, tax, out: Path, **kw):
    kw.setdefault("read_text", False)  # OCR has its own tests (test_cover_text.py)
    return build_dataset(catalog, settings, tax, out=out, progress=False, **kw)


@pytest.fixture
def folder_tree(tmp_path: Path) -> Path:
    """Pop: cover 1 + its q60 re-encode + its 0.8x resize, a byte-identical pair, 8 singles;
    HipHop: 8 singles; cover 50 filed under both (conflict); cover 60 twice in Pop and its
    re-encode once in HipHop (near-duplicate group voting pop 2 : rap 1)."""
    pop = {f"p{i}.jpg": jpeg(cover(i)) for i in range(2, 10)}
    pop |= {"one.jpg": jpeg(cover(1)), "one-q60.jpg": reencoded(1), "one-small.jpg": resized(1)}
    pop |= {"same-a.jpg": jpeg(cover(40)), "same-b.jpg": jpeg(cover(40))}
    pop |= {"both.jpg": jpeg(cover(50)), "sixty.jpg": jpeg(cover(60)), "sixty-b.jpg": resized(60)}
    rap = {f"h{i}.jpg": jpeg(cover(i)) for i in range(20, 28)}
    rap |= {"both.jpg": jpeg(cover(50)), "sixty-q60.jpg": reencoded(60)}
    return write_tree(tmp_path / "covers", {"Pop": pop, "HipHop": rap})


def test_copies_collapse_and_conflicts_are_counted(
    sqlite_catalog, settings, folder_tree, tmp_path
) -> None:
    tax = _import(sqlite_catalog, settings, folder_tree)
    result = _build(sqlite_catalog, settings, tax, tmp_path / "ds")
    rows = read_manifest(tmp_path / "ds")
    shas = {r["sha256"] for r in rows}
    from sleeve.core.images.intake import inspect_image

    variants = {inspect_image(b).sha256 for b in (jpeg(cover(1)), reencoded(1), resized(1))}
    assert len(variants & shas) == 1  # original, q60 and 0.8x resize: one group, one kept
    assert inspect_image(jpeg(cover(50))).sha256 not in shas  # pop vs rap 1:1 -> ambiguous
    sixty = {inspect_image(b).sha256 for b in (jpeg(cover(60)), resized(60), reencoded(60))}
    (kept,) = [r for r in rows if r["sha256"] in sixty]
    assert kept["genre"] == "pop"  # 2 pop folders : 1 rap folder >= margin 1.5
    assert int(kept["width"]) == 160  # the largest resolution of the group is kept

    dup = result.card.duplicates
    assert dup.byte_identical_images == 2  # cover 40 (same folder) and cover 50 (two)
    assert dup.byte_identical_extra_links == 2
    assert dup.near_duplicate_images_removed == 4  # 2 variants of cover 1, 2 of cover 60
    conflicts = result.card.labels["conflicts"]
    assert conflicts[BYTE_IDENTICAL] == {"groups": 1, "ambiguous": 1, "weak": 0, "resolved": {}}
    assert conflicts[NEAR_DUPLICATE] == {
        "groups": 1,
        "ambiguous": 0,
        "weak": 0,
        "resolved": {"pop": 1},
    }
    assert (
        result.counts["train"]["pop"] + result.counts["val"]["pop"] + result.counts["test"]["pop"]
        == 8 + 1 + 1 + 1
    )  # singles + cover 1 + 40 + 60
    # manifest contract: column order, sorting, files in place
    header = (tmp_path / "ds" / "manifest.csv").read_text().splitlines()[0]
    assert header == "path,sha256,phash,genre,split,artist,source,group_id,width,height"
    assert rows == sorted(rows, key=lambda r: (r["split"], r["genre"], r["sha256"]))
    for r in rows:
        assert r["path"] == f"images/{r['split']}/{r['genre']}/{r['sha256']}.jpg"
        assert (tmp_path / "ds" / r["path"]).is_file()
    card = json.loads((tmp_path / "ds" / "card.json").read_text())
    assert card["dataset_id"] == result.dataset_id and card["genres"] == ["pop", "rap"]
    assert set(card) >= {
        "counts",
        "class_weights",
        "oversample",
        "settings",
        "duplicates",
        "labels",
        "balance",
        "created_with",
    }
    weights = card["class_weights"]
    assert abs(sum(weights.values()) / len(weights) - 1.0) < 1e-6
    assert "byte-identical across genres" in (tmp_path / "ds" / "card.md").read_text()
    latest = settings.datasets_dir / "LATEST"
    assert latest.read_text().strip() == str((tmp_path / "ds").resolve())


def test_same_settings_give_byte_identical_manifest(
    sqlite_catalog, settings, folder_tree, tmp_path
) -> None:
    tax = _import(sqlite_catalog, settings, folder_tree)
    a = _build(sqlite_catalog, settings, tax, tmp_path / "a", seed=3)
    b = build_dataset(sqlite_catalog, settings, tax, seed=3, progress=False)  # default location
    assert a.dataset_id == b.dataset_id
    assert b.export_dir == settings.datasets_dir / b.dataset_id
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (
        b.export_dir / "manifest.csv"
    ).read_bytes()
    again = build_dataset(sqlite_catalog, settings, tax, seed=3, progress=False)  # replaces it
    assert again.dataset_id == a.dataset_id and (again.export_dir / "card.md").is_file()
    assert not [p for p in settings.datasets_dir.iterdir() if p.name.startswith(".")]


def test_dry_run_writes_nothing(sqlite_catalog, settings, folder_tree, tmp_path) -> None:
    tax = _import(sqlite_catalog, settings, folder_tree)
    result = _build(sqlite_catalog, settings, tax, tmp_path / "ds", dry_run=True)
    assert result.export_dir is None and result.dry_run
    assert sum(sum(c.values()) for c in result.counts.values()) > 0
    assert not (tmp_path / "ds").exists() and not settings.datasets_dir.exists()


def test_missing_image_file_is_reported_not_fatal(
    sqlite_catalog, settings, folder_tree, tmp_path
) -> None:
    tax = _import(sqlite_catalog, settings, folder_tree)
    gone = next((settings.data_dir / "images").glob("*/*.jpg"))
    gone.unlink()
    result = _build(sqlite_catalog, settings, tax, tmp_path / "ds")
    assert result.card.skipped["missing-file"] == 1
    assert any(gone.name in p for p in result.card.skipped["missing_examples"])
    assert gone.stem not in {r["sha256"] for r in read_manifest(tmp_path / "ds")}
    assert any("missing-file 1" in line for line in result.summary_lines())


def test_hashes_are_cached(sqlite_catalog, settings, folder_tree, tmp_path) -> None:
    tax = _import(sqlite_catalog, settings, folder_tree)
    first = _build(sqlite_catalog, settings, tax, tmp_path / "a", dry_run=True)
    second = _build(sqlite_catalog, settings, tax, tmp_path / "a", dry_run=True)
    assert first.hash_report.computed > 0 and second.hash_report.computed == 0
    assert second.hash_report.cached == first.hash_report.computed


def test_genre_filter_and_errors(sqlite_catalog, settings, folder_tree, tmp_path) -> None:
    with pytest.raises(DataError, match="run `collect` first"):
        _build(sqlite_catalog, settings, Taxonomy.load(), tmp_path / "x")
    tax = _import(sqlite_catalog, settings, folder_tree)
    with pytest.raises(UnknownGenreError, match=r"valid genres: .*pop"):
        _build(sqlite_catalog, settings, tax, tmp_path / "x", genres=["metal"])
    result = _build(sqlite_catalog, settings, tax, tmp_path / "rap", genres=["rap"])
    assert {r["genre"] for r in read_manifest(tmp_path / "rap")} == {"rap"}
    assert result.card.labels["excluded_genres"] == {"pop": 11}


def _artist_catalog(catalog, settings) -> Taxonomy:
    """12 artists, 1-5 albums each, rap or pop; one cover re-used by two artists' releases."""
    tax = Taxonomy.load()
    seed = 100
    for a in range(12):
        genre_tag = "hip hop" if a % 2 else "pop"
        for album in range(1 + a % 5):
            seed += 1
            add_release(
                catalog,
                settings,
                tax,
                key=f"{a}-{album}",
                artist=f"Artist {a}",
                image=jpeg(cover(seed)),
                evidence=[Evidence("rg-genre", genre_tag)],
            )
    add_release(
        catalog,
        settings,
        tax,
        key="shared-1",
        artist="Artist 0",
        image=jpeg(cover(999)),
        evidence=[Evidence("rg-genre", "pop")],
    )
    add_release(
        catalog,
        settings,
        tax,
        key="shared-2",
        artist="Artist 2",
        image=reencoded(999),
        evidence=[Evidence("rg-tag", "pop", votes=3)],
    )
    return tax


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_artist_or_group_spans_two_splits(sqlite_catalog, settings, tmp_path, seed) -> None:
    tax = _artist_catalog(sqlite_catalog, settings)
    _build(sqlite_catalog, settings, tax, tmp_path / "ds", seed=seed)
    rows = read_manifest(tmp_path / "ds")
    splits_of: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        splits_of[f"group:{r['group_id']}"].add(r["split"])
        for artist in r["artist"].split("; "):
            splits_of[f"artist:{artist}"].add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values()), splits_of
    # the cover shared by Artist 0 and Artist 2 ties both artists into one leak group
    shared = [r for r in rows if r["artist"] == "Artist 0; Artist 2"]
    assert len(shared) == 1
    assert splits_of["artist:Artist 0"] == splits_of["artist:Artist 2"]
    assert {r["split"] for r in rows} >= {"train", "val"}


def test_balance_keeps_diversity_and_respects_target(sqlite_catalog, settings, tmp_path) -> None:
    tax = Taxonomy.load()
    for album in range(9):  # one prolific pop artist...
        add_release(
            sqlite_catalog,
            settings,
            tax,
            key=f"big-{album}",
            artist="Prolific",
            image=jpeg(cover(300 + album)),
            evidence=[Evidence("rg-genre", "pop")],
        )
    for a in range(3):  # ...and three with one album each
        add_release(
            sqlite_catalog,
            settings,
            tax,
            key=f"small-{a}",
            artist=f"Solo {a}",
            image=jpeg(cover(400 + a)),
            evidence=[Evidence("rg-genre", "pop")],
        )
    for a in range(4):
        add_release(
            sqlite_catalog,
            settings,
            tax,
            key=f"rap-{a}",
            artist=f"Rapper {a}",
            image=jpeg(cover(500 + a)),
            evidence=[Evidence("rg-genre", "hip hop")],
        )
    result = _build(sqlite_catalog, settings, tax, tmp_path / "ds", per_class=4)
    rows = read_manifest(tmp_path / "ds")
    pop_artists = [r["artist"] for r in rows if r["genre"] == "pop"]
    assert len(pop_artists) == 4 and len(set(pop_artists)) == 4  # not 4 x Prolific
    bal = result.card.balance
    assert bal["before"] == {"pop": 12, "rap": 4} and bal["after"] == {"pop": 4, "rap": 4}
    median = _build(sqlite_catalog, settings, tax, tmp_path / "m", balance=True)
    assert median.card.balance["target_per_class"] == 8
    assert median.card.oversample == {"pop": 1.0, "rap": 2.0}
    assert len({r["sha256"] for r in read_manifest(tmp_path / "m")}) == 12  # no copies


@pytest.mark.shared_data
def test_shared_covers_cross_genre_byte_identical_groups_reported(
    sqlite_catalog, settings, tmp_path
) -> None:
    shared = shared_covers_or_skip()
    link_subset(shared, tmp_path / "subset", twins=30, singles=250)
    tax = _import(
        sqlite_catalog, settings, tmp_path / "subset", {"Electronic": "electronic", "Rock": "rock"}
    )
    result = _build(sqlite_catalog, settings, tax, tmp_path / "ds")
    c = result.card.labels["conflicts"][BYTE_IDENTICAL]
    assert 25 <= c["groups"] <= 30
    assert c["ambiguous"] + c["weak"] + sum(c["resolved"].values()) == c["groups"]
    assert result.card.duplicates.byte_identical_images == 30


def test_multi_genre_evidence_on_one_release_is_a_counted_conflict(
    sqlite_catalog, settings, tmp_path
) -> None:
    tax = Taxonomy.load()
    add_release(
        sqlite_catalog,
        settings,
        tax,
        key="mixed",
        artist="Mixed",
        image=jpeg(cover(700)),
        evidence=[Evidence("rg-genre", "pop"), Evidence("rg-genre", "hip hop")],
    )
    add_release(
        sqlite_catalog,
        settings,
        tax,
        key="leaning",
        artist="Leaning",
        image=jpeg(cover(701)),
        evidence=[Evidence("rg-genre", "pop"), Evidence("rg-tag", "hip hop")],
    )
    result = _build(sqlite_catalog, settings, tax, tmp_path / "ds")
    assert result.card.labels["conflicts"][MULTI_GENRE] == {
        "groups": 2,
        "ambiguous": 1,
        "weak": 0,
        "resolved": {"pop": 1},
    }  # 3 vs 3; 3 vs 1


def test_same_dataset_from_sqlite_and_postgresql(
    catalog, sqlite_catalog, settings, folder_tree, tmp_path
) -> None:
    """Portable SQL: the catalog on either backend yields the byte-identical export."""
    built = []
    for i, cat in enumerate((sqlite_catalog, catalog)):
        tax = _import(cat, settings, folder_tree)
        built.append(_build(cat, settings, tax, tmp_path / f"ds{i}"))
    assert built[0].dataset_id == built[1].dataset_id
    assert (tmp_path / "ds0" / "manifest.csv").read_bytes() == (
        tmp_path / "ds1" / "manifest.csv"
    ).read_bytes()
