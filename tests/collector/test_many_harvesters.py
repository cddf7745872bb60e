"""Three collect processes on one PostgreSQL catalog against the loopback fakes, which enforce
MusicBrainz' per-client rate and log every request: the harvesters share one rate budget
through the database, never store a cover twice and never lose a row or a count."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sleeve.collector.ratelimit import CatalogRateBudget
from sleeve.core.catalog.db import open_catalog
from sleeve.core.catalog.integrity import check_integrity
from sleeve.core.catalog.models import CoverImage, HarvestRun, ReleaseImage, ReleaseSource
from sleeve.core.images.store import ImageStore
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices
from tests.conftest import POSTGRES_URL, _postgres_database

pytestmark = pytest.mark.postgres

SERVER_RATE = 2.0  # what the fake MusicBrainz accepts per client (like MB's 1/s, faster)
COLLECT = (sys.executable, "-m", "sleeve.collector.cli", "--no-progress")
HARVESTER_RATE = 1.6  # SLEEVE_MB_RATE of each process: the budget they share, under the limit


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("SLEEVE_TEST_POSTGRES_URL is not set (CI starts a PostgreSQL server)")
    yield from _postgres_database()


def test_three_harvesters_share_the_rate_and_store_each_cover_once(
    pg_url: str, tmp_path: Path
) -> None:
    cat = FakeCatalogue.generate({"rap": 260, "jazz": 260}, seed=31, duplicate_rate=0.1)
    catalog = open_catalog(pg_url)  # migrate once, as an operator runs one command first
    jobs = [("rap", 140), ("rap", 140), ("jazz", 140)]  # two processes on one genre: races
    with FakeServices(cat, enforce_rate=SERVER_RATE) as fx:
        env = {
            **os.environ,
            **fx.env(),
            "SLEEVE_DATA_DIR": str(tmp_path / "data"),
            "SLEEVE_DATABASE_URL": pg_url,
            "SLEEVE_MB_RATE": str(HARVESTER_RATE),
            "SLEEVE_BACKOFF_BASE": "0.05",
            "SLEEVE_CONTACT": "tests@sleeve.invalid",
        }
        procs = [
            subprocess.Popen(
                [*COLLECT, "--genre", genre, "--limit", str(limit)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for genre, limit in jobs
        ]
        outputs = [p.communicate(timeout=300) for p in procs]
        mb = fx.requests.for_service("musicbrainz")
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]

    # the shared budget: the server never had to refuse, and request starts it saw are spaced
    assert len(mb) >= 4
    assert [r.status for r in mb if r.status != 200] == []
    gaps = [b.time - a.time for a, b in itertools.pairwise(sorted(mb, key=lambda r: r.time))]
    assert min(gaps) >= 1.0 / SERVER_RATE - 0.02

    with catalog.session() as s:
        shas = s.scalars(select(CoverImage.sha256)).all()
        groups = s.scalars(
            select(ReleaseSource.external_id).where(ReleaseSource.kind == "release-group")
        ).all()
        runs = s.scalars(select(HarvestRun)).all()
        linked = s.scalar(select(func.count(func.distinct(ReleaseImage.image_id))))
    assert len(shas) == len(set(shas))  # each cover stored once
    assert len(groups) == len(set(groups))  # each release group once
    assert linked == len(shas)  # no cover row without its release
    # every new cover is counted in exactly one run, none lost to a concurrent update
    assert sum(r.new_covers for r in runs) == len(shas)
    by_genre = {g: sum(r.new_covers for r in runs if r.genre == g) for g in ("rap", "jazz")}
    assert by_genre["jazz"] == 140 and 140 <= by_genre["rap"] <= 280
    assert check_integrity(catalog, ImageStore(tmp_path / "data")).ok
    catalog.dispose()


def test_catalog_rate_budget_spaces_reservations_across_connections(pg_url: str) -> None:
    catalog = open_catalog(pg_url)
    slots: list[float] = []  # when each reservation may start, on this host's clock

    def record(wait: float) -> None:
        slots[-1] += wait

    budgets = [
        CatalogRateBudget(catalog.engine, "svc", 10.0, sleep=record, margin=0.0) for _ in range(3)
    ]
    for budget in budgets * 3:  # nine reservations, interleaved across three "processes"
        slots.append(time.monotonic())
        budget.acquire()
    # slots 0.1 s apart (reserved on the database clock, on this host like ours)
    spacing = [b - a for a, b in itertools.pairwise(slots)]
    assert all(abs(gap - 0.1) < 0.03 for gap in spacing), spacing
    budgets[0].defer(5.0)
    sleeps: list[float] = []
    CatalogRateBudget(catalog.engine, "svc", 10.0, sleep=sleeps.append).acquire()
    assert sleeps and sleeps[0] >= 4.5
    catalog.dispose()
