"""Resuming a paused harvest: the new command's --limit wins and the CLI says what resuming does
(issue 11 #13: after a paused `--limit 190`, `--limit 40` resumed and added 140)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sleeve.collector.cli import main as collect_main
from sleeve.collector.collect import resume_plan
from sleeve.collector.harvest_mb import harvest_musicbrainz
from sleeve.collector.runs import HarvestSummary
from sleeve.core.catalog.db import Catalog, open_catalog
from sleeve.core.catalog.models import CoverImage, HarvestRun
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices
from tests.conftest import fast_settings

TAXONOMY = Taxonomy.load()
FIRST_LIMIT = 150  # more than the first search page (100 release groups) can give


@pytest.fixture
def paused(tmp_path: Path) -> Iterator[tuple[FakeServices, Settings, Catalog, HarvestSummary]]:
    """A rap run with --limit 150 paused after the first page: MusicBrainz fails from page 2."""
    cat = FakeCatalogue.generate({"rap": 160}, seed=41)
    with FakeServices(cat) as fx:
        settings = fast_settings(
            tmp_path / "data", musicbrainz_url=fx.musicbrainz_url, coverart_url=fx.coverart_url
        )
        catalog = open_catalog(settings.catalog_url)
        fx.faults.add(
            "musicbrainz", r"release-group.*offset=[1-9]", "status", times=None, status=503
        )
        summary = harvest_musicbrainz(
            catalog, settings, TAXONOMY, "rap", FIRST_LIMIT, progress=False
        )
        assert summary.state == "paused" and 0 < summary.new < FIRST_LIMIT
        fx.faults.clear()
        yield fx, settings, catalog, summary
        catalog.dispose()


def _covers(catalog: Catalog) -> int:
    with catalog.session() as s:
        return s.scalar(select(func.count()).select_from(CoverImage)) or 0


def test_a_smaller_new_limit_stops_the_resumed_run_at_once(paused) -> None:
    fx, settings, catalog, first = paused
    before = _covers(catalog)
    asked = len(fx.requests)
    limit = first.new // 2  # already more than this was added by the paused run
    resumed = harvest_musicbrainz(catalog, settings, TAXONOMY, "rap", limit, progress=False)
    assert resumed.resumed and resumed.run_id == first.run_id
    assert (resumed.target, resumed.new, resumed.state) == (limit, first.new, "completed")
    assert _covers(catalog) == before  # nothing added beyond the new limit
    assert len(fx.requests) == asked  # and nothing asked of the services
    with catalog.session() as s:
        run = s.get(HarvestRun, first.run_id)
        assert run is not None and (run.target, run.state) == (limit, "completed")


def test_a_larger_new_limit_counts_what_the_run_already_added(paused) -> None:
    _fx, settings, catalog, first = paused
    before = _covers(catalog)
    limit = first.new + 5
    resumed = harvest_musicbrainz(catalog, settings, TAXONOMY, "rap", limit, progress=False)
    assert resumed.resumed and (resumed.target, resumed.new) == (limit, limit)
    assert _covers(catalog) == before + 5


def test_the_cli_says_in_one_line_what_resuming_will_do(
    paused,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fx, settings, _catalog, first = paused
    for key, value in {**fx.env(), "SLEEVE_DATA_DIR": str(settings.data_dir)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SLEEVE_MB_RATE", "50")
    limit = first.new + 3
    code = collect_main(["--genre", "rap", "--limit", str(limit), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    notes = [line for line in out.splitlines() if line.startswith("resuming")]
    assert notes == [
        f"resuming paused musicbrainz run #{first.run_id} for rap: {first.new} of "
        f"{FIRST_LIMIT} added; --limit {limit} makes its target {limit}, "
        f"so it adds up to 3 more"
    ]
    assert f"{limit}/{limit} new covers" in out
    # the summary's title starts its own line after a blank one, not after a printed "\\n"
    assert "\\n" not in out and f"\n\nmusicbrainz resumed #{first.run_id}, genre rap" in out


def test_source_all_resumes_share_the_new_limit(sqlite_catalog: Catalog) -> None:
    """Two open runs (MusicBrainz 60 of 95 added, Spotify 10 of 130): --limit 80 leaves 10."""
    with sqlite_catalog.session() as s:
        s.add(
            HarvestRun(source="musicbrainz", genre="rap", target=95, new_covers=60, state="paused")
        )
        s.add(HarvestRun(source="spotify", genre="rap", target=130, new_covers=10, state="paused"))
    plan = resume_plan(sqlite_catalog, "rap", 80, "all")
    assert [(run.source, target) for run, target in plan] == [("musicbrainz", 70), ("spotify", 10)]
    smaller = resume_plan(sqlite_catalog, "rap", 40, "all")
    assert [target for _, target in smaller] == [60, 10]  # both complete at once
    assert resume_plan(sqlite_catalog, "rap", 80, "spotify")[0][1] == 80
