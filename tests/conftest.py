"""Shared fixtures: fresh settings and catalogs per test, on SQLite and (when given) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sleeve.core.catalog.db import Catalog, open_catalog
from sleeve.core.settings import Settings, load_settings
from sleeve.dataset.attributes.registry import CHEAP
from tests.ray_support import ray_head  # noqa: F401  (the session's Ray head, when asked for)

REPO = Path(__file__).resolve().parents[1]
# `make test-fast` runs `pytest -m "not slow"`. A test is slow when tests/slow_tests.txt names it
# (`file.py::test_name`, measured with --durations) or when it needs a service or data a plain
# checkout lacks: these markers, or these fixtures (a Ray head, the loopback S3 server).
SLOW_LIST = Path(__file__).with_name("slow_tests.txt")
SLOW_MARKERS = ("postgres", "browser", "shared_data")
SLOW_FIXTURES = ("ray_head", "s3")
SHARED_COVERS = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
POSTGRES_URL = os.environ.get("SLEEVE_TEST_POSTGRES_URL", "")
# build-dataset's default computes all five attribute groups; faces (MTCNN) and style (Lite0)
# load two networks and cost tens of ms per cover, in every test that builds. Tests build with
# the cheap three (the setting a user sets for the cheap build); the default five are tested
# end to end where they are the subject (test_attributes.py, test_build_attributes.py).
TEST_ATTRIBUTES = ",".join(CHEAP)


def fast_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for tests: own data dir, quick backoff, a generous MusicBrainz rate."""
    base = load_settings({}, env_file=None)
    values: dict[str, object] = {
        "data_dir": data_dir,
        "backoff_base": 0.01,
        "backoff_cap": 0.2,
        "max_retries": 3,
        "mb_rate": 50.0,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "contact": "tests@sleeve.invalid",
        # the visual duplicate stage embeds every cover (seconds per build): its own tests
        # (test_visual_dedup.py) turn it on
        "visual_dedup": False,
        "build_attributes": TEST_ATTRIBUTES,
    }
    values.update(overrides)
    # overrides are Settings fields with their own types
    return replace(base, **values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _cheap_build_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in a test (and their subprocesses) read the environment: the cheap three."""
    monkeypatch.setenv("SLEEVE_BUILD_ATTRIBUTES", TEST_ATTRIBUTES)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path / "data")


def _postgres_database() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server named by SLEEVE_TEST_POSTGRES_URL."""
    from sqlalchemy import create_engine, text

    from sleeve.core.settings import normalise_database_url

    admin_url = normalise_database_url(POSTGRES_URL)
    name = f"sleeve_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("SLEEVE_TEST_POSTGRES_URL is not set (CI starts a PostgreSQL server)")
    yield from _postgres_database()


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    cat = open_catalog(catalog_url)
    yield cat
    cat.dispose()


@pytest.fixture
def sqlite_catalog(settings: Settings) -> Iterator[Catalog]:
    cat = open_catalog(settings.catalog_url)
    yield cat
    cat.dispose()


def shared_covers_or_skip() -> Path:
    if not SHARED_COVERS.is_dir():
        pytest.skip(f"shared cover set not found at {SHARED_COVERS} (it lives beside the repo)")
    return SHARED_COVERS


def slow_tests(path: Path = SLOW_LIST) -> set[str]:
    """``file.py::test_name`` per line of tests/slow_tests.txt (blanks and # comments skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def slow_key(item: pytest.Item) -> str:
    """``file.py::test_name`` of a collected test: its file's name, its parameters dropped."""
    return f"{item.path.name}::{getattr(item, 'originalname', item.name)}"


def is_slow(item: pytest.Item, listed: set[str]) -> bool:
    return (
        slow_key(item) in listed
        or any(item.get_closest_marker(m) for m in SLOW_MARKERS)
        or any(f in getattr(item, "fixturenames", ()) for f in SLOW_FIXTURES)
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    listed = slow_tests()
    for item in items:
        if is_slow(item, listed):
            item.add_marker(pytest.mark.slow)
