"""One pool factory (issue 21 #8): every worker pool in the product comes from
``sleeve.core.procs.worker_pool``, so every worker dies with its command, even under ``kill -9``.

After a ``kill -9`` of ``sleeve text`` its OCR workers (about 360 MB each) lived on with
parent 1: that pool was built beside the factory, without the die-with-parent initializer.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sleeve.dataset.text.ocr import engine_available
from tests.conftest import REPO
from tests.core.test_orphans import _alive, _descendants, _wait_for

# What starts worker processes; only sleeve/core/procs.py may name them.
_POOL_MAKERS = {"ProcessPoolExecutor", "Pool", "Process"}
_FACTORY = REPO / "sleeve" / "core" / "procs.py"
_PRODUCT = ("sleeve", "collector", "dataset", "training", "migrations")


def _product_modules() -> list[Path]:
    found: set[Path] = set()
    for top in _PRODUCT:
        root = REPO / top
        if root.is_symlink():  # sleeve/collector -> ../collector: counted once, by its folder
            continue
        found.update(p.resolve() for p in root.rglob("*.py"))
    return sorted(found)


def _pool_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _POOL_MAKERS:
                calls.append(f"{path.relative_to(REPO)}:{node.lineno} {name}()")
            keywords = {k.arg for k in node.keywords}
            unguarded = "num_workers" in keywords and "worker_init_fn" not in keywords
            if name == "DataLoader" and unguarded:
                calls.append(f"{path.relative_to(REPO)}:{node.lineno} DataLoader w/o init")
    return calls


def test_no_product_module_builds_a_pool_but_the_factory() -> None:
    modules = _product_modules()
    assert _FACTORY.resolve() in modules and len(modules) > 50
    offenders = [c for p in modules if p != _FACTORY.resolve() for c in _pool_calls(p)]
    assert offenders == []


def test_the_factory_runs_an_extra_initializer_after_the_guard() -> None:
    from sleeve.core.procs import worker_pool

    with worker_pool(1, initializer=_mark_worker) as pool:
        assert pool.submit(_marked).result(timeout=60) == "marked"


def _mark_worker() -> None:
    os.environ["SLEEVE_TEST_WORKER_MARK"] = "marked"


def _marked() -> str:
    return os.environ.get("SLEEVE_TEST_WORKER_MARK", "")


# `sleeve text` over a catalog of generated covers (>= 16, so the worker pool starts).
TEXT = """
import sys
from sleeve.dataset.text.cli import main
sys.exit(main(["--workers", "2", "--no-progress"]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.skipif(not engine_available(), reason="needs the OCR extra")
def test_kill_9_of_sleeve_text_leaves_no_ocr_worker(tmp_path: Path) -> None:
    from sleeve.fakes.covers import cover_jpeg

    folder = tmp_path / "covers"
    for genre, label in (("pop", "Pop"), ("jazz", "Jazz")):
        (folder / label).mkdir(parents=True)
        for i in range(20):
            (folder / label / f"{i}.jpg").write_bytes(cover_jpeg(genre, i))
    env = {**os.environ, "SLEEVE_DATA_DIR": str(tmp_path / "data")}
    imported = subprocess.run(
        [sys.executable, "-m", "sleeve.ui.cli", "collect", "--from-folder", str(folder),
         "--no-progress"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    proc = subprocess.Popen([sys.executable, "-c", TEXT], env=env)
    workers: list[int] = []
    try:
        # 2 spawned workers (and the resource tracker), then let them load the engine
        assert _wait_for(lambda: len(_descendants(proc.pid)) >= 3, 120), "no OCR workers"
        time.sleep(2.0)
        workers = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _wait_for(lambda: not any(map(_alive, workers)), 10), "orphaned OCR workers"
    finally:
        proc.kill()
        proc.wait()
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)
