"""collect from the loopback MusicBrainz + Cover Art Archive fakes: counts, bad input, pacing,
Retry-After, resume after kill -9. No mocks: the real HTTP layer talks to real sockets."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sleeve.collector.harvest_mb import harvest_musicbrainz
from sleeve.core.catalog.db import Catalog, open_catalog
from sleeve.core.catalog.integrity import check_integrity
from sleeve.core.catalog.models import (
    CoverImage,
    Failure,
    GenreEvidence,
    HarvestRun,
    Release,
    ReleaseSource,
)
from sleeve.core.images.store import ImageStore
from sleeve.core.settings import Settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices
from tests.conftest import fast_settings

TAXONOMY = Taxonomy.load()


def _settings(tmp_path: Path, fx: FakeServices, **kw: object) -> Settings:
    return fast_settings(
        tmp_path / "data", musicbrainz_url=fx.musicbrainz_url, coverart_url=fx.coverart_url, **kw
    )


def _count(catalog: Catalog, model: type) -> int:
    with catalog.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_collect_stores_n_distinct_valid_covers_with_tags(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"rap": 120, "jazz": 20}, seed=3)
    with FakeServices(cat) as fx:
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "rap", 50, progress=False)
        assert (summary.new, summary.state) == (50, "completed")
        with catalog.session() as s:
            shas = s.scalars(select(CoverImage.sha256)).all()
            assert len(shas) == len(set(shas)) == 50
            mapped = s.scalars(
                select(GenreEvidence.target_genre).where(GenreEvidence.target_genre.is_not(None))
            ).all()
            assert "rap" in mapped
            titles = s.scalars(select(Release.title)).all()
        assert check_integrity(catalog, ImageStore(settings.data_dir)).ok
        uas = {r.headers.get("User-Agent") for r in fx.requests.for_service("musicbrainz")}
        assert uas == {settings.user_agent} and "tests@sleeve.invalid" in settings.user_agent
    # odd titles survive as data, never as paths
    assert any("../" in t for t in titles) or any(len(t) >= 1000 for t in titles)
    assert all(p.name.endswith(".jpg") for p in (settings.data_dir / "images").rglob("*.jpg"))


def test_a_progress_callback_receives_every_new_cover(tmp_path: Path) -> None:
    """A callable progress (a GUI, a log line) gets the increments; it has no tqdm counter."""
    cat = FakeCatalogue.generate({"rap": 40}, seed=3)
    seen: list[int] = []
    with FakeServices(cat) as fx:
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "rap", 12, progress=seen.append)
    assert summary.new == 12
    assert sum(seen) == 12 and set(seen) <= {0, 1}


def test_bad_art_is_skipped_counted_and_recorded(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"reggae": 90}, seed=5, bad_art_rate=0.25)
    with FakeServices(cat) as fx:
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "reggae", 500, progress=False)
    assert summary.state == "exhausted" and summary.new > 0  # ran dry: reported, not an error
    expected = {"html", "json", "corrupt", "truncated", "bomb", "too-small"}
    assert expected <= set(summary.skipped), summary.skipped
    with catalog.session() as s:
        reasons = set(s.scalars(select(Failure.reason)))
    assert expected <= reasons
    assert _count(catalog, CoverImage) == summary.new
    assert check_integrity(catalog, ImageStore(settings.data_dir)).ok


def test_broken_responses_do_not_stop_the_harvest(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"disco": 60}, seed=7)
    with FakeServices(cat) as fx:
        fx.faults.add("musicbrainz", r"release-group", "malformed-json", times=1)
        fx.faults.add("musicbrainz", r"release-group", "truncate-json", times=1)
        fx.faults.add("musicbrainz", r"release-group", "drop", times=1)
        fx.faults.add("musicbrainz", r"release-group", "status", times=1, status=502)
        fx.faults.add("archive", r"\.jpg", "huge-image", times=2, size=40 * 1024 * 1024)
        fx.faults.add("archive", r"\.jpg", "slow", times=2, delay=0.3)
        settings = _settings(tmp_path, fx, max_image_bytes=2 * 1024 * 1024, max_retries=5)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "disco", 10, progress=False)
    assert (summary.new, summary.state) == (10, "completed")
    assert summary.failed["too-large"] == 2
    assert check_integrity(catalog, ImageStore(settings.data_dir)).ok


def test_redirect_loops_fail_permanently_and_are_not_retried_next_run(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"anime": 30}, seed=7)
    with FakeServices(cat) as fx:
        fx.faults.add("coverart", r"front", "redirect-loop", times=None)
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        first = harvest_musicbrainz(catalog, settings, TAXONOMY, "anime", 10, progress=False)
        covers_asked = len(fx.requests.for_service("coverart"))
        second = harvest_musicbrainz(catalog, settings, TAXONOMY, "anime", 10, progress=False)
        assert len(fx.requests.for_service("coverart")) == covers_asked
    assert first.failed["redirect-loop"] > 0 and first.new == 0 and first.state == "exhausted"
    assert second.new == 0 and not second.failed
    with catalog.session() as s:
        assert "redirect-loop" in set(s.scalars(select(Failure.reason)))


def test_missing_fields_are_skipped_and_counted(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"jazz": 150}, seed=8)  # two pages; the first loses its ids
    with FakeServices(cat) as fx:
        fx.faults.add("musicbrainz", r"release-group", "missing-fields", times=1, fields=("id",))
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "jazz", 5, progress=False)
    assert summary.new == 5 and summary.skipped["missing-fields"] > 0


def test_musicbrainz_pace_never_exceeds_the_limit(tmp_path: Path) -> None:
    """The fake enforces 1 request/s per client like the real server; we must never trip it."""
    cat = FakeCatalogue.generate({"rap": 330}, seed=9)
    with FakeServices(cat, enforce_rate=1.0) as fx:
        settings = _settings(tmp_path, fx, mb_rate=1.0)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "rap", 200, progress=False)
        mb = fx.requests.for_service("musicbrainz")
    assert summary.new == 200
    assert len(mb) >= 2 and all(r.status == 200 for r in mb)  # no 503 from the rate gate
    gaps = [b.time - a.time for a, b in itertools.pairwise(mb)]
    assert min(gaps) >= 1.0 - 0.02


def test_503_with_retry_after_is_honoured(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"pop": 30}, seed=10)
    with FakeServices(cat) as fx:
        fx.faults.add(
            "musicbrainz", r"release-group", "status", times=1, status=503, retry_after="1"
        )
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        summary = harvest_musicbrainz(catalog, settings, TAXONOMY, "pop", 5, progress=False)
        mb = fx.requests.for_service("musicbrainz")
    assert summary.new == 5
    assert [r.status for r in mb[:2]] == [503, 200]
    assert mb[1].time - mb[0].time >= 1.0  # waited as told (capped by backoff_cap otherwise)


def test_unavailable_musicbrainz_pauses_the_run_for_a_resume(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"edm": 30}, seed=11)
    with FakeServices(cat) as fx:
        fx.faults.add("musicbrainz", r"release-group", "status", times=None, status=503)
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        paused = harvest_musicbrainz(catalog, settings, TAXONOMY, "edm", 5, progress=False)
        assert paused.state == "paused" and "re-run" in paused.message
        fx.faults.clear()
        resumed = harvest_musicbrainz(catalog, settings, TAXONOMY, "edm", 5, progress=False)
    assert resumed.resumed and resumed.run_id == paused.run_id and resumed.new == 5


def test_a_completed_run_is_followed_by_a_new_one_that_pages_on(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"country": 250}, seed=12)
    with FakeServices(cat) as fx:
        settings = _settings(tmp_path, fx)
        catalog = open_catalog(settings.catalog_url)
        first = harvest_musicbrainz(catalog, settings, TAXONOMY, "country", 100, progress=False)
        before = len(fx.requests.for_service("musicbrainz"))
        second = harvest_musicbrainz(catalog, settings, TAXONOMY, "country", 30, progress=False)
        later = fx.requests.for_service("musicbrainz")[before:]
    assert first.state == second.state == "completed" and second.run_id != first.run_id
    assert _count(catalog, CoverImage) == 130
    assert "offset=0" not in later[0].target  # the cursor continued; page 1 was not re-queried
    with catalog.session() as s:
        assert s.scalar(select(func.count()).select_from(HarvestRun)) == 2


def _collect_cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sleeve.collector.cli", *args, "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _stored_covers(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM cover_images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_run_then_rerun_adds_exactly_n(tmp_path: Path) -> None:
    cat = FakeCatalogue.generate({"rap": 200}, seed=13)
    data = tmp_path / "data"
    with FakeServices(cat, cover_latency=0.05) as fx:
        env = {
            **os.environ,
            **fx.env(),
            "SLEEVE_DATA_DIR": str(data),
            "SLEEVE_MB_RATE": "50",
            "SLEEVE_BACKOFF_BASE": "0.01",
            "SLEEVE_CONTACT": "tests@sleeve.invalid",
        }
        proc = _collect_cli(env, "--genre", "rap", "--limit", "80")
        deadline = time.monotonic() + 60
        while _stored_covers(data / "catalog.db") < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stored_before = _stored_covers(data / "catalog.db")
        assert 20 <= stored_before < 80
        with sqlite3.connect(data / "catalog.db") as conn:
            done = {
                r[0]
                for r in conn.execute(
                    "SELECT external_id FROM release_sources WHERE kind='release-group'"
                )
            }
        mark = len(fx.requests)
        rerun = _collect_cli(env, "--genre", "rap", "--limit", "80")
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err.decode()
        after = fx.requests.snapshot()[mark:]
    assert "resumed" in out.decode() and "80/80" in out.decode()
    assert _stored_covers(data / "catalog.db") == 80  # both invocations together: exactly 80
    refetched = [r for r in after if r.service == "coverart" and any(d in r.target for d in done)]
    assert refetched == []  # nothing that was stored is downloaded again
    catalog = open_catalog(f"sqlite:///{data / 'catalog.db'}")
    assert check_integrity(catalog, ImageStore(data)).ok
    assert not list(data.rglob("*.part"))
    with catalog.session() as s:
        runs = s.scalars(select(HarvestRun)).all()
        assert [(r.state, r.new_covers) for r in runs] == [("completed", 80)]
        assert s.scalar(select(func.count()).select_from(ReleaseSource)) >= 80


def test_cli_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "SLEEVE_DATA_DIR": str(tmp_path / "d")}
    bad_url = subprocess.run(
        [sys.executable, "-m", "sleeve.collector.cli", "--genre", "rap"],
        env={**env, "MUSICBRAINZ_URL": "musicbrainz.org"},
        capture_output=True,
        text=True,
    )
    assert bad_url.returncode == 2 and bad_url.stderr.startswith("error: MUSICBRAINZ_URL")
    unknown = subprocess.run(
        [sys.executable, "-m", "sleeve.collector.cli", "--genre", "polka"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "valid genres: anime" in unknown.stderr
    assert not (tmp_path / "d").exists()  # nothing written before validation
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    unwritable = subprocess.run(
        [sys.executable, "-m", "sleeve.collector.cli", "--genre", "rap"],
        env={**env, "SLEEVE_DATA_DIR": str(blocker / "sub")},
        capture_output=True,
        text=True,
    )
    assert unwritable.returncode == 2 and "not writable" in unwritable.stderr
    assert "Traceback" not in bad_url.stderr + unknown.stderr + unwritable.stderr


@pytest.mark.parametrize("size", [250, 500])
def test_cover_size_is_configurable(tmp_path: Path, size: int) -> None:
    cat = FakeCatalogue.generate({"classical": 20}, seed=14)
    with FakeServices(cat) as fx:
        settings = replace(_settings(tmp_path, fx), cover_size=size)
        catalog = open_catalog(settings.catalog_url)
        harvest_musicbrainz(catalog, settings, TAXONOMY, "classical", 3, progress=False)
        fronts = [r.target for r in fx.requests.for_service("coverart")]
    assert fronts and all(t.endswith(f"front-{size}") for t in fronts)
    with catalog.session() as s:
        assert set(s.scalars(select(CoverImage.width))) == {size}


def test_covers_refused_by_a_setting_are_retried_when_it_is_raised(tmp_path: Path) -> None:
    """Issue 21 #9: covers refused as too large under a low SLEEVE_MAX_IMAGE_BYTES were never
    met again once the cap was raised, and the run said MusicBrainz had no more covers."""
    cat = FakeCatalogue.generate({"pop": 12}, seed=5)
    with FakeServices(cat) as fx:
        low = _settings(tmp_path, fx, max_image_bytes=2048)  # every fake cover is bigger
        catalog = open_catalog(low.catalog_url)
        first = harvest_musicbrainz(catalog, low, TAXONOMY, "pop", 10, progress=False)
        again = harvest_musicbrainz(catalog, low, TAXONOMY, "pop", 10, progress=False)
        raised = replace(low, max_image_bytes=15 * 1024 * 1024)
        third = harvest_musicbrainz(catalog, raised, TAXONOMY, "pop", 10, progress=False)
    refused = first.failed["too-large"] + first.skipped["too-large"]
    assert first.new == 0 and refused >= 5 and first.state == "exhausted"
    for run in (first, again):
        assert "no more pop" not in run.message and "MusicBrainz has no more" not in run.message
        assert f"{refused} skipped as too-large under SLEEVE_MAX_IMAGE_BYTES=2048" in run.message
        assert "raise SLEEVE_MAX_IMAGE_BYTES" in run.message
    assert again.new == 0 and not again.failed and not again.skipped  # same cap: not re-fetched
    assert third.new == refused == _count(catalog, CoverImage)  # every refused cover, now
    # the rest have no art: now the source really ran dry, and says so
    assert third.state == "exhausted" and "MusicBrainz has no more pop" in third.message
