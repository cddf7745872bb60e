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
from tests.ray_support import ray_head  # noqa: F401  (the session's Ray head, when asked for)

REPO = Path(__file__).resolve().parents[1]
SHARED_COVERS = REPO.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
POSTGRES_URL = os.environ.get("SLEEVE_TEST_POSTGRES_URL", "")


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
    }
    values.update(overrides)
    # overrides are Settings fields with their own types
    return replace(base, **values)  # type: ignore[arg-type]


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
