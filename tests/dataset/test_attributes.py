"""Cover attributes: each extractor on generated pictures, the cache, bad files, the command."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sleeve.core.catalog.db import Catalog
from sleeve.core.errors import ConfigError, UsageError
from sleeve.dataset.attributes import colour, compute, faces, structure, texture
from sleeve.dataset.attributes.base import CoverView
from sleeve.dataset.attributes.compute import ensure_attributes
from sleeve.dataset.attributes.decode import load_view
from sleeve.dataset.attributes.registry import EXTRACTORS, resolve
from sleeve.ui import cli

HAS_MTCNN = importlib.util.find_spec("facenet_pytorch") is not None
ASTRONAUT = (
    # skimage is a dependency: its spec and origin exist
    Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"  # type: ignore[union-attr,arg-type]
    if importlib.util.find_spec("skimage")
    else None
)


def view(rgb: np.ndarray) -> CoverView:
    return CoverView(rgb=rgb.astype(np.uint8), large=rgb.astype(np.uint8))


def solid(r: int, g: int, b: int, side: int = 64) -> np.ndarray:
    return np.tile(np.array([r, g, b], np.uint8), (side, side, 1))


def checkerboard(side: int = 128, cell: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[:side, :side]
    grey = (((yy // cell) + (xx // cell)) % 2 * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def gradient(side: int = 128) -> np.ndarray:
    grey = np.tile(np.linspace(0, 255, side).astype(np.uint8), (side, 1))
    return np.repeat(grey[..., None], 3, axis=2)


def noisy_colours(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (96, 96, 3)).astype(np.uint8)


# --- colour -----------------------------------------------------------------------------------


def test_colour_saturated_versus_grey() -> None:
    grey = colour.compute(view(solid(128, 128, 128)))
    vivid = colour.compute(view(noisy_colours()))
    red = colour.compute(view(solid(230, 20, 20)))
    assert grey["saturation"] == 0.0
    assert grey["colourfulness"] == 0.0
    assert grey["warmth"] == 0.0  # no chromatic pixel: neither warm nor cool
    assert red["saturation"] > 0.9
    assert vivid["colourfulness"] > 50 > grey["colourfulness"]
    assert red["colourfulness"] > 50


def test_colour_brightness_and_warmth() -> None:
    assert colour.compute(view(solid(0, 0, 0)))["brightness"] == 0.0
    assert colour.compute(view(solid(255, 255, 255)))["brightness"] == pytest.approx(1.0, abs=1e-3)
    assert colour.compute(view(solid(240, 140, 20)))["warmth"] == 1.0  # orange
    assert colour.compute(view(solid(20, 60, 230)))["warmth"] == -1.0  # blue


def test_palette_finds_the_colours_and_their_shares() -> None:
    rgb = solid(250, 250, 250, 80)
    rgb[:, :20] = (200, 0, 0)  # a quarter red, three quarters white
    values = colour.compute(view(rgb))
    assert values["palette"] == ["#fafafa", "#c80000"]  # two distinct colours: two clusters
    assert values["palette_shares"] == pytest.approx([0.75, 0.25], abs=0.01)  # subsampled
    many = colour.compute(view(noisy_colours()))
    assert len(many["palette"]) == colour.PALETTE_K
    assert sum(many["palette_shares"]) == pytest.approx(1.0, abs=1e-3)
    assert many["palette_shares"] == sorted(many["palette_shares"], reverse=True)


def test_lab_matches_known_values() -> None:
    lab = colour.srgb_to_lab(np.array([[255, 255, 255], [255, 0, 0], [0, 0, 0]], np.uint8))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[1], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red, D65
    np.testing.assert_allclose(lab[2], [0, 0, 0], atol=0.05)


# --- texture and structure ----------------------------------------------------------------------


def test_texture_tells_a_checkerboard_from_a_smooth_gradient() -> None:
    board = texture.compute(view(checkerboard()))
    smooth = texture.compute(view(gradient()))
    flat = texture.compute(view(solid(90, 90, 90, 128)))
    assert board["glcm_contrast"] > 0.2 > 0.01 > smooth["glcm_contrast"]
    assert smooth["glcm_homogeneity"] > board["glcm_homogeneity"]
    assert flat["glcm_energy"] == 1.0  # one grey level
    assert flat["lbp_entropy"] == 0.0  # one pattern everywhere
    assert board["lbp_entropy"] > 0.0
    for values in (board, smooth, flat):
        assert 0 <= values["glcm_contrast"] <= 1
        assert -1 <= values["glcm_correlation"] <= 1


def test_structure_symmetry_and_edges() -> None:
    mirrored = noisy_colours()
    mirrored[:, 48:] = mirrored[:, :48][:, ::-1]
    lopsided = solid(255, 255, 255, 96)
    lopsided[:, :40] = 0
    sym = structure.compute(view(mirrored))
    asym = structure.compute(view(lopsided))
    assert sym["symmetry_lr"] > 0.99
    assert asym["symmetry_lr"] < 0.8
    assert structure.compute(view(solid(30, 30, 30)))["edge_density"] == 0.0
    assert structure.compute(view(checkerboard()))["edge_density"] > 0.2


# --- faces -------------------------------------------------------------------------------------


@pytest.mark.skipif(ASTRONAUT is None, reason="scikit-image (its sample photo) not installed")
@pytest.mark.parametrize(
    "extractor",
    [
        pytest.param(
            faces.MTCNN,
            marks=pytest.mark.skipif(not HAS_MTCNN, reason="facenet-pytorch not installed"),
        ),
        faces.HAAR,
    ],
    ids=["mtcnn", "haar"],
)
def test_face_detectors_find_the_one_face_and_none_on_a_flat_cover(extractor) -> None:
    photo = extractor.compute(load_view(ASTRONAUT))  # one astronaut's portrait, 512x512
    assert photo["face_count"] == 1
    assert photo["person"] == 1 and photo["group"] == 0
    assert 0.02 < photo["largest_face_share"] < 0.3
    blank = extractor.compute(view(solid(200, 180, 160, 256)))
    assert blank == {"face_count": 0, "largest_face_share": 0.0, "person": 0, "group": 0}


def test_group_is_three_or_more_faces() -> None:
    box = (0.0, 0.0, 10.0, 10.0)
    assert faces._values([box, box], 100, 100)["group"] == 0
    three = faces._values([box, box, (0.0, 0.0, 20.0, 30.0)], 100, 100)
    assert three == {"face_count": 3, "largest_face_share": 0.06, "person": 1, "group": 1}


def test_missing_facenet_names_the_package(monkeypatch, caplog) -> None:
    monkeypatch.setattr(faces, "mtcnn_available", lambda: False)
    with pytest.raises(ConfigError, match="pip install --no-deps facenet-pytorch"):
        resolve("faces-mtcnn")
    with caplog.at_level(logging.WARNING):
        assert resolve("faces") == [faces.HAAR]  # the fallback, with the install line
    assert "facenet-pytorch" in caplog.text
    with pytest.raises(UsageError, match="unknown attribute extractor 'shape'"):
        resolve("colour,shape")


# --- the cached stage --------------------------------------------------------------------------


def _covers(root: Path, n: int) -> list[tuple[str, str]]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rel = f"c{i}.png"
        Image.fromarray(noisy_colours(i)).save(root / rel)
        out.append((hashlib.sha256((root / rel).read_bytes()).hexdigest(), rel))
    return out


def test_attributes_are_cached_resumed_and_bad_files_counted(
    catalog: Catalog, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    covers = _covers(data, 3)
    (data / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    covers.append(("f" * 64, "bad.jpg"))
    covers.append(("e" * 64, "gone.png"))
    cheap = resolve("colour,structure")
    got, report = ensure_attributes(catalog, data, covers, cheap, workers=1, progress=False)
    assert set(got) == {sha for sha, _ in covers[:3]}
    assert set(got[covers[0][0]]) == {"colour", "structure"}
    assert report.computed == {"colour": 3, "structure": 3}
    assert sum(report.skipped.values()) == 2 and report.skipped["missing-file"] == 1
    again, second = ensure_attributes(catalog, data, covers, cheap, workers=1, progress=False)
    assert again == got
    assert not second.computed and second.cached == {"colour": 3, "structure": 3}
    more, third = ensure_attributes(catalog, data, covers, resolve("texture"), progress=False)
    assert third.computed == {"texture": 3}  # only the new extractor runs
    assert set(more[covers[0][0]]) == {"texture"}


def test_a_new_extractor_version_recomputes(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    data = tmp_path / "data"
    covers = _covers(data, 2)
    ensure_attributes(catalog, data, covers, resolve("structure"), workers=1, progress=False)
    bumped = replace(EXTRACTORS["structure"], version=2)
    monkeypatch.setitem(EXTRACTORS, "structure", bumped)
    _, report = ensure_attributes(catalog, data, covers, [bumped], workers=1, progress=False)
    assert report.computed == {"structure": 2} and not report.cached


def test_worker_processes_give_the_same_values(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compute, "_MIN_PARALLEL", 2)
    data = tmp_path / "data"
    covers = _covers(data, 6)
    wanted = resolve("colour,texture")
    serial = {
        sha: {e.name: e.compute(load_view(data / rel)) for e in wanted} for sha, rel in covers
    }
    got, report = ensure_attributes(catalog, data, covers, wanted, workers=2, progress=False)
    assert got == serial
    assert report.computed == {"colour": 6, "texture": 6}


# --- the command -------------------------------------------------------------------------------


def test_sleeve_attributes_command(tmp_path: Path, monkeypatch, capsys) -> None:
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.models import CoverImage
    from sleeve.core.settings import load_settings

    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("SLEEVE_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert cli.main(["attributes", "--only", "colour"]) == 3  # nothing yet: collect first
    capsys.readouterr()
    covers = _covers(Path(settings.data_dir), 2)
    catalog = open_catalog(settings.catalog_url)
    with catalog.session() as session:
        for sha, rel in covers:
            session.add(
                CoverImage(sha256=sha, path=rel, width=96, height=96, format="PNG", size_bytes=1)
            )
    assert cli.main(["attributes", "--only", "colour,structure", "--json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["computed"] == {"colour": 2, "structure": 2} and doc["covers"] == 2
    assert cli.main(["attributes", "--only", "colour", "--no-progress"]) == 0
    assert "colour: 0 computed, 2 cached" in capsys.readouterr().out
    assert cli.main(["attributes", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "colourfulness" in listing and "Hasler" in listing and "symmetry_lr" in listing
    assert cli.main(["attributes", "--only", "nope"]) == 2


# --- build-dataset: attributes.csv and the card's profile ----------------------------------------


def test_build_dataset_exports_attributes_and_profile(sqlite_catalog, settings, tmp_path) -> None:
    import csv

    from sleeve.collector.folder_import import import_folder
    from sleeve.core.taxonomy import Taxonomy
    from sleeve.dataset.build import build_dataset
    from tests.dataset_support import cover, jpeg, read_manifest, write_tree

    pop = {f"p{i}.jpg": jpeg(cover(i)) for i in range(2, 8)}
    rap = {f"h{i}.jpg": jpeg(cover(i)) for i in range(20, 26)}
    tax = Taxonomy.load()
    root = write_tree(tmp_path / "covers", {"Pop": pop, "HipHop": rap})
    import_folder(sqlite_catalog, settings, tax, root, None, progress=False)
    out = tmp_path / "export"
    result = build_dataset(sqlite_catalog, settings, tax, out=out, progress=False)
    manifest = read_manifest(out)
    with (out / "attributes.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert sorted(r["sha256"] for r in table) == sorted(r["sha256"] for r in manifest)
    assert {"colour.saturation", "texture.glcm_contrast", "structure.symmetry_lr"} <= set(table[0])
    assert not any(k.startswith("faces.") for k in table[0])  # the tests set the cheap three
    assert all(0 <= float(r["colour.saturation"]) <= 1 for r in table)
    profile = result.card.attributes.profile
    assert set(profile) == {r["genre"] for r in manifest}
    assert sum(p["covers"] for p in profile.values()) == len(manifest)
    pop_shas = [r["sha256"] for r in manifest if r["genre"] == "pop"]
    by_sha = {r["sha256"]: r for r in table}
    mean_sat = sum(float(by_sha[s]["colour.saturation"]) for s in pop_shas) / len(pop_shas)
    assert profile["pop"]["saturation"] == pytest.approx(mean_sat, abs=1e-3)
    card_md = (out / "card.md").read_text()
    assert "## Attributes" in card_md and "| pop |" in card_md
    # the small-multiples figure is written beside the table and linked from the card
    assert (out / "attributes_profile.png").read_bytes().startswith(b"\x89PNG")
    assert "](attributes_profile.png)" in card_md
    again = build_dataset(sqlite_catalog, settings, tax, out=out, progress=False)
    assert not again.card.attributes.computed["computed"]  # all cached the second time
    off = build_dataset(sqlite_catalog, settings, tax, out=out, progress=False, attributes="off")
    assert off.card.attributes is None and not (out / "attributes.csv").exists()


@pytest.mark.skipif(not HAS_MTCNN or ASTRONAUT is None, reason="facenet-pytorch not installed")
def test_mtcnn_runs_in_fresh_worker_processes(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Torch extractors run in spawned workers (a forked child can hang in libgomp)."""
    import shutil

    monkeypatch.setattr(compute, "_MIN_PARALLEL", 2)
    data = tmp_path / "data"
    data.mkdir()
    covers = []
    for i in range(2):
        shutil.copy(ASTRONAUT, data / f"a{i}.png")
        covers.append((str(i) * 64, f"a{i}.png"))
    got, report = ensure_attributes(catalog, data, covers, [faces.MTCNN], workers=2, progress=False)
    assert report.computed == {"faces-mtcnn": 2}
    assert [got[sha]["faces-mtcnn"]["face_count"] for sha, _ in covers] == [1, 1]


def test_attributes_csv_leaves_unmeasured_covers_empty_and_profile_counts_faces() -> None:
    from sleeve.dataset.attributes.compute import AttributeReport
    from sleeve.dataset.attributes.export import build_export_attributes, card_lines

    wanted = [EXTRACTORS["structure"], faces.HAAR]
    attrs = {
        "a" * 64: {
            "structure": {"edge_density": 0.1, "symmetry_lr": 0.9},
            "faces-haar": faces._values([(0.0, 0.0, 5.0, 5.0)], 10, 10),
        },
        "b" * 64: {
            "structure": {"edge_density": 0.3, "symmetry_lr": 0.5},
            "faces-haar": faces._values([], 10, 10),
        },
    }
    genre_of = {"a" * 64: "rock", "b" * 64: "rock", "c" * 64: "jazz"}  # c: unreadable
    out = build_export_attributes(genre_of, attrs, wanted, AttributeReport())
    lines = out.csv_bytes.decode().splitlines()
    assert lines[0] == (
        "sha256,structure.edge_density,structure.symmetry_lr,faces.face_count,"
        "faces.largest_face_share,faces.person,faces.group"
    )
    assert lines[1] == "a" * 64 + ",0.1,0.9,1,0.25,1,0"
    assert lines[3] == "c" * 64 + ",,,,,,"
    rock = out.card.profile["rock"]
    assert rock == {"covers": 2, "face": 0.5, "group": 0.0, "edge_density": 0.2, "symmetry_lr": 0.7}
    assert out.card.profile["jazz"] == {"covers": 1}
    table = card_lines(out.card)
    assert "| rock | 2 | 0.5 | 0 | 0.2 | 0.7 |" in table
