"""Several commands opening a brand-new catalog at the same moment all succeed (issue 11 #12).

Without a lock, each process saw no schema and ran the first migration; the losers failed with
``table artists already exists``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import inspect

from sleeve.core.catalog.db import current_revision, head_revision, open_catalog

# Each child imports everything first, then waits for the starting gun, so that the migrations
# (not the imports) run at the same moment.
CHILD = """
import os, sys, time
from pathlib import Path
from sleeve.core.catalog.db import open_catalog
go = Path(sys.argv[2])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)
open_catalog(sys.argv[1]).dispose()
"""

PROCESSES = 6


def test_concurrent_first_opens_all_succeed(catalog_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, catalog_url, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
        assert all(c.poll() is None for c in children), "a child died before the start"
        time.sleep(0.02)
    go.touch()
    results = [(c.wait(timeout=120), c.stderr.read() if c.stderr else "") for c in children]
    failures = [err.strip().splitlines()[-1] for code, err in results if code != 0]
    assert failures == []
    catalog = open_catalog(catalog_url)
    try:
        assert "artists" in inspect(catalog.engine).get_table_names()
        assert current_revision(catalog.engine) == head_revision(catalog_url)
    finally:
        catalog.dispose()
