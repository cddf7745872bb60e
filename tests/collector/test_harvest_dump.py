"""collect --from-dump: a generated MusicBrainz JSON dump (real layout, .tar.xz) + the loopback
Cover Art Archive fake. No MusicBrainz request is made; resume is by byte offset."""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sleeve.collector.dump import read_dump
from sleeve.collector.harvest_dump import harvest_dump
from sleeve.core.catalog.db import Catalog, open_catalog
from sleeve.core.catalog.models import CoverImage, GenreEvidence, HarvestCursor, ReleaseSource
from sleeve.core.errors import UsageError
from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.mbdump import dump_lines, write_dump
from sleeve.fakes.server import FakeServices
from tests.conftest import fast_settings

TAXONOMY = Taxonomy.load()


@pytest.fixture(scope="module")
def catalogue() -> FakeCatalogue:
    return FakeCatalogue.generate({"jazz": 80, "rap": 40}, seed=21)


def _count(catalog: Catalog, model: type) -> int:
    with catalog.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_the_generated_dump_has_the_real_layout(catalogue: FakeCatalogue, tmp_path: Path) -> None:
    path = write_dump(catalogue, tmp_path, "release")
    with lzma.open(path) as raw:
        assert raw.read(262)[257:262] == b"ustar"  # an xz-compressed tar
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert "mbdump/release" in names and "mbdump/TIMESTAMP" in names
        body = tar.extractfile("mbdump/release").read()  # type: ignore[union-attr]
    assert body == b"".join(dump_lines(catalogue, "release"))
    lines = list(read_dump(path))
    assert len(lines) == len(catalogue.releases)
    first = next(line.entity for line in lines if line.entity is not None)
    assert first.release_id and first.group.id and first.front in (True, False)
    assert lines[-1].end == len(body)  # offsets are bytes of the uncompressed entity file
    assert write_dump(catalogue, tmp_path / "again", "release").read_bytes() == path.read_bytes()


def test_dump_harvest_uses_no_musicbrainz_request_and_maps_evidence(
    catalogue: FakeCatalogue, tmp_path: Path
) -> None:
    dump = write_dump(catalogue, tmp_path / "dump", "release")
    with FakeServices(catalogue) as fx:
        settings = fast_settings(
            tmp_path / "data", musicbrainz_url=fx.musicbrainz_url, coverart_url=fx.coverart_url
        )
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_dump(catalog, settings, TAXONOMY, "jazz", 30, dump, progress=False)
        assert (summary.new, summary.state) == (30, "completed")
        assert fx.requests.for_service("musicbrainz") == []
        caa = [r.target for r in fx.requests.for_service("coverart")]
    fronts = {rid for rid, rel in catalogue.releases.items() if rel.front is not None}
    asked = {t.split("/")[2] for t in caa if t.startswith("/release/")}
    assert asked and asked <= fronts  # only releases whose cover-art-archive.front is true
    with catalog.session() as s:
        shas = s.scalars(select(CoverImage.sha256)).all()
        assert len(shas) == len(set(shas)) == 30
        kinds = set(s.scalars(select(GenreEvidence.kind)).all())
        assert {"rg-tag", "rg-genre"} <= kinds  # the dump's genres are the strong evidence
        targets = s.scalars(
            select(GenreEvidence.target_genre).where(GenreEvidence.kind == "rg-genre")
        ).all()
        assert "jazz" in targets
        groups = s.scalars(
            select(ReleaseSource.external_id).where(ReleaseSource.kind == "release-group")
        ).all()
        assert len(groups) == len(set(groups))  # one cover per release group
    for rg in groups:
        assert catalogue.release_groups[rg].genre in ("jazz", "rap")


def test_dump_harvest_resumes_by_byte_offset(catalogue: FakeCatalogue, tmp_path: Path) -> None:
    dump = write_dump(catalogue, tmp_path / "dump", "release-group")
    with FakeServices(catalogue) as fx:
        settings = fast_settings(
            tmp_path / "data", musicbrainz_url=fx.musicbrainz_url, coverart_url=fx.coverart_url
        )
        catalog = open_catalog(settings.catalog_url)
        first = harvest_dump(catalog, settings, TAXONOMY, "jazz", 10, dump, progress=False)
        asked_first = len(fx.requests.for_service("coverart"))
        with catalog.session() as s:
            offset = s.scalar(select(HarvestCursor.next_offset))
        second = harvest_dump(catalog, settings, TAXONOMY, "jazz", 1000, dump, progress=False)
    assert first.new == 10 and first.state == "completed"
    assert offset == 0  # the first page (100 candidates) was not finished: it is read again
    assert second.state == "exhausted" and not second.resumed
    with catalog.session() as s:
        cursor = s.scalars(select(HarvestCursor)).one()
        assert cursor.exhausted and cursor.next_offset == sum(
            len(x) for x in dump_lines(catalogue, "release-group")
        )
    stored = _count(catalog, CoverImage)
    assert stored == first.new + second.new
    assert asked_first >= 10
    # a third run has nothing left to read: the cursor is at the end, no request is made
    with FakeServices(catalogue) as fx:
        third = harvest_dump(catalog, settings, TAXONOMY, "jazz", 5, dump, progress=False)
        assert fx.requests.for_service("coverart") == []
    assert third.new == 0


def test_read_dump_skips_to_an_offset_and_counts_bad_lines(tmp_path: Path) -> None:
    lines = [b'{"id": "x"}\n', b"not json\n", b'{"id":"a","title":"T","tags":[]}\n']
    path = tmp_path / "release-group.tar.xz"
    body = b"".join(lines)
    with tarfile.open(path, "w:xz") as tar:
        info = tarfile.TarInfo("mbdump/release-group")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    got = list(read_dump(path))
    assert [line.entity is None for line in got] == [True, True, False]
    tail = list(read_dump(path, start=len(lines[0]) + len(lines[1])))
    assert len(tail) == 1 and tail[0].entity is not None and tail[0].entity.group.title == "T"
    with pytest.raises(UsageError, match=r"release\.tar\.xz or release-group\.tar\.xz"):
        list(read_dump(tmp_path / "artist.tar.xz"))


def test_collect_from_dump_cli(catalogue: FakeCatalogue, tmp_path: Path) -> None:
    dump = write_dump(catalogue, tmp_path / "dump", "release")
    with FakeServices(catalogue) as fx:
        env = {
            **os.environ,
            **fx.env(),
            "SLEEVE_DATA_DIR": str(tmp_path / "data"),
            "SLEEVE_CONTACT": "tests@sleeve.invalid",
        }
        cmd = [sys.executable, "-m", "sleeve.collector.cli", "--no-progress"]
        done = subprocess.run(
            [*cmd, "--from-dump", str(dump), "--genre", "rap", "--limit", "5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        bad = subprocess.run(
            [*cmd, "--from-dump", str(tmp_path / "nope.tar.xz"), "--genre", "rap"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert "musicbrainz-dump run" in done.stdout and "5/5 new covers (completed)" in done.stdout
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_the_fakes_cli_writes_the_dumps_of_the_catalogue_it_serves(tmp_path: Path) -> None:
    import threading

    from sleeve.fakes.__main__ import serve_forever

    out = io.StringIO()
    stop = threading.Event()
    serve_forever(
        {"jazz": 5}, seed=2, out=out, stop=stop, ready=lambda fx: stop.set(), dump_dir=tmp_path
    )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("export MUSICBRAINZ_URL=")  # eval "$(... | head -2)" still works
    assert f"# dumps: {tmp_path / 'release.tar.xz'} {tmp_path / 'release-group.tar.xz'}" in lines
    entities = [line.entity for line in read_dump(tmp_path / "release-group.tar.xz")]
    assert len(entities) == 5 and all(e is not None for e in entities)
