"""The stand-ins serving REAL cover files from a folder (fakes/folder_catalogue.py):
MusicBrainz finds each file's release by its genre tag, the Cover Art Archive serves the file's
own bytes (original) or a scaled-down JPEG (thumbnail), and a harvested copy of a cover that
was also imported from the folder is found as the same picture, its labels merged."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import requests
from PIL import Image
from sqlalchemy import select

from sleeve.collector.folder_import import import_folder
from sleeve.collector.harvest_mb import harvest_musicbrainz
from sleeve.core.catalog.db import open_catalog
from sleeve.core.catalog.models import CoverImage
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.build import build_dataset
from sleeve.fakes.folder_catalogue import folder_catalogue, folder_files
from sleeve.fakes.server import FakeServices
from tests.conftest import fast_settings

TAXONOMY = Taxonomy.load()
MAPPING = {"Pop": "pop", "HipHop": "rap"}


def _covers(root: Path, per_folder: int = 4) -> dict[str, str]:
    """Distinct 320 px JPEG pictures under root/<Folder>/; sha256 -> genre."""
    out = {}
    rng = np.random.default_rng(7)
    for folder, genre in MAPPING.items():
        (root / folder).mkdir(parents=True)
        for i in range(per_folder):
            blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            img = Image.fromarray(blocks).resize((320, 320), Image.Resampling.NEAREST)
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=92)
            (root / folder / f"c{i}.jpg").write_bytes(buf.getvalue())
            out[hashlib.sha256(buf.getvalue()).hexdigest()] = genre
    return out


def test_caa_serves_the_files_bytes_and_scaled_thumbnails(tmp_path: Path) -> None:
    _covers(tmp_path / "covers", per_folder=1)
    files = folder_files(tmp_path / "covers", MAPPING)
    cat = folder_catalogue(files, seed=1)
    rg = next(g for g in cat.release_groups.values() if g.genre == "rap")
    assert [t.name for t in rg.tags] == ["hip hop"]  # the genre's first core tag
    path = next(p for p, g in files if g == "rap")
    with FakeServices(cat) as fx:
        url = f"{fx.coverart_url}/release-group/{rg.id}/front"
        original = requests.get(url, timeout=5)
        thumb = requests.get(f"{url}-250", timeout=5)
        big = requests.get(f"{url}-500", timeout=5)
    assert original.status_code == 200 and original.content == path.read_bytes()
    assert Image.open(io.BytesIO(thumb.content)).size == (250, 250)
    assert big.content == path.read_bytes()  # never scaled up


def test_harvested_copies_of_imported_covers_are_one_picture_with_merged_labels(
    tmp_path: Path,
) -> None:
    truth = _covers(tmp_path / "covers")
    files = folder_files(tmp_path / "covers", MAPPING)
    imported = tmp_path / "start"
    for path, _ in files[::2]:  # half of each folder is the starting dataset
        dest = imported / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())
    with FakeServices(folder_catalogue(files, seed=0)) as fx:
        settings = fast_settings(
            tmp_path / "data",
            musicbrainz_url=fx.musicbrainz_url,
            coverart_url=fx.coverart_url,
            cover_size=0,  # the original: byte-identical to the imported file
        )
        catalog = open_catalog(settings.catalog_url)
        import_folder(catalog, settings, TAXONOMY, imported, MAPPING, progress=False)
        for genre in ("pop", "rap"):
            run = harvest_musicbrainz(catalog, settings, TAXONOMY, genre, 100, progress=False)
            assert (run.new, run.state) == (2, "exhausted")  # the other half was already stored
    with catalog.session() as s:
        stored = set(s.scalars(select(CoverImage.sha256)).all())
    assert stored == set(truth)
    built = build_dataset(catalog, settings, TAXONOMY, out=tmp_path / "export", progress=False)
    manifest = (tmp_path / "export" / "manifest.csv").read_text().splitlines()
    header = manifest[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in manifest[1:]]
    assert {r["sha256"]: r["genre"] for r in rows} == truth
    sources = {r["sha256"]: r["source"] for r in rows}
    # the imported half carries both sources' evidence, the rest MusicBrainz's alone
    assert sum("folder" in v and "musicbrainz" in v for v in sources.values()) == 4
    assert sum(built.counts[sp][g] for sp in built.counts for g in built.counts[sp]) == 8
    catalog.dispose()


def test_fake_services_option_serves_a_folder(tmp_path: Path) -> None:
    """`sleeve fake-services --from-folder DIR [--map ...]`: folders map as folder import maps
    them (taxonomy aliases, then --map), an unmapped folder is a usage error."""
    import threading

    import pytest

    from sleeve.core.errors import UsageError
    from sleeve.fakes.__main__ import build_parser, serve_forever
    from sleeve.fakes.folder_catalogue import catalogue_from_folder

    truth = _covers(tmp_path / "covers", per_folder=2)
    (tmp_path / "covers" / "Polka").mkdir()
    with pytest.raises(UsageError, match="Polka"):
        catalogue_from_folder(tmp_path / "covers", {}, taxonomy=TAXONOMY)
    cat = catalogue_from_folder(tmp_path / "covers", {"Polka": "polka"}, taxonomy=TAXONOMY)
    assert sorted(rg.genre for rg in cat.release_groups.values()) == sorted(truth.values())
    args = build_parser().parse_args(["--from-folder", str(tmp_path / "covers"), "--map", "A=b"])
    assert (args.from_folder, args.map) == (tmp_path / "covers", "A=b")

    stop, seen = threading.Event(), {}

    def ready(fx) -> None:
        r = requests.get(
            f"{fx.musicbrainz_url}/release-group",
            params={"query": 'tag:"hip hop"', "fmt": "json"},
            headers={"User-Agent": "t/1 ( t@example.org )"},
            timeout=5,
        )
        seen["count"] = r.json()["count"]
        stop.set()

    out = io.StringIO()
    assert serve_forever([], catalogue=cat, out=out, ready=ready, stop=stop) == 0
    assert seen["count"] == 2 and "4 release groups" in out.getvalue()
