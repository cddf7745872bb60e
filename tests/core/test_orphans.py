"""Child processes die with the command that started them (issue 11 #10).

A `kill -9` of build-dataset left its hashing workers running for minutes; SIGTERM to `sleeve app`
left Streamlit serving. These tests start the real code in a subprocess and look at /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

# Hash 200 files with 2 workers, each stuck inside its first hash (a hung network file system, a
# huge decode): the forked workers inherit a hash function that never returns, so the pool is
# mid-hashing for as long as the test wants (the parallel path needs >= 200 files). Not FIFOs:
# the image intake refuses them at once (regular files only), so they cannot be the block.
HASHER = """
import sys, time
from sleeve.dataset.dedup import hashing
def stuck(path, algo):
    time.sleep(3600)
hashing.hash_image = stuck
hashing.hash_files(sys.argv[1:], workers=2, progress=False)
"""

# Load covers through the training data loader with 2 workers, each stuck inside __getitem__
# (a transform that never returns: a hung network file system, a huge decode), where torch's
# own orphan check (between batches) never runs. Real JPEGs, written beside the test's files:
# the image intake refuses FIFOs at once (regular files only), so they cannot be the block.
LOADER = """
import sys, time
from pathlib import Path
from PIL import Image
from sleeve.core.vision.samples import CoverDataset, Sample, make_loader
paths = [Path(p).with_suffix(".real.jpg") for p in sys.argv[1:]]
for p in paths:
    Image.new("RGB", (8, 8)).save(p)
def stuck(img):
    time.sleep(3600)
samples = [Sample(p, "0" * 64, "rap", "train", 0) for p in paths]
for _batch in make_loader(CoverDataset(samples, transform=stuck), 1, workers=2):
    pass
"""

# A stand-in for Streamlit: records the signal it got, and its pid, then waits.
STAND_IN = """
import os, signal, sys, time
from pathlib import Path
out = Path(sys.argv[1])
def stop(signum, _frame):
    (out / "signal").write_text(str(signum))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
(out / "pid").write_text(str(os.getpid()))
time.sleep(120)
"""

# `sleeve app` with the Streamlit command swapped for the stand-in.
LAUNCHER = """
import sys
from sleeve.ui.app import launcher
from sleeve.core.settings import load_settings
stand_in = [sys.executable, "-c", sys.argv[1], sys.argv[2]]
launcher.app_command = lambda *args, **kwargs: stand_in
sys.exit(launcher.run_app(load_settings({}, env_file=None), port=8599))
"""


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie may linger where PID 1 does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize(
    ("script", "files"), [(HASHER, 200), (LOADER, 4)], ids=["hashing-pool", "data-loader"]
)
def test_workers_die_with_a_killed_parent(tmp_path: Path, script: str, files: int) -> None:
    fifos = []
    for i in range(files):
        fifo = tmp_path / f"cover-{i:03d}.jpg"
        os.mkfifo(fifo)
        fifos.append(str(fifo))
    proc = subprocess.Popen([sys.executable, "-c", script, *fifos])
    workers: list[int] = []
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2, 60), "the workers never started"
        time.sleep(0.5)  # the workers are now blocked inside their first file
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _wait_for(lambda: not any(map(_alive, workers)), 5), "orphaned workers"
    finally:
        proc.kill()
        proc.wait()
        for pid in filter(_alive, workers):  # what a failing run leaves behind
            if str(tmp_path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def _start_launcher(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, STAND_IN, str(tmp_path)])
    assert _wait_for(lambda: (tmp_path / "pid").is_file(), 60), "the stand-in never started"
    time.sleep(0.2)  # the pid file is written after the stand-in's handlers are installed
    return proc, int((tmp_path / "pid").read_text())


def test_sigterm_to_the_app_launcher_stops_the_app(tmp_path: Path) -> None:
    proc, child = _start_launcher(tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
        assert (tmp_path / "signal").read_text() == str(int(signal.SIGTERM))
        assert _wait_for(lambda: not _alive(child), 5)
        assert code == 128 + signal.SIGTERM
    finally:
        proc.kill()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_kill_9_of_the_app_launcher_stops_the_app(tmp_path: Path) -> None:
    proc, child = _start_launcher(tmp_path)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _wait_for(lambda: not _alive(child), 5), "Streamlit outlived its launcher"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_loader_workers_still_deliver_every_batch(tmp_path: Path) -> None:
    """The worker set-up above changes nothing else: a loader with workers yields every item."""
    from sleeve.core.vision.samples import CoverDataset, Sample, make_loader
    from tests.dataset_support import cover

    samples = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        cover(i, size=32).save(path)
        samples.append(Sample(path, "0" * 64, "rap", "train", i))
    loader = make_loader(CoverDataset(samples, transform=lambda img: img.size[0]), 2, workers=2)
    assert sorted(label for _, labels in loader for label in labels.tolist()) == [0, 1, 2, 3]


# The attribute stage with a torch extractor spawns fresh workers (a forked child can hang in
# libgomp). Not a fork server: after a kill -9 of the command it and its workers stayed up.
FRESH_POOL = """
import sys
from sleeve.dataset.attributes.compute import _job
from sleeve.core.procs import worker_pool
with worker_pool(2, "spawn") as pool:
    list(pool.map(_job, [(p, ("structure",)) for p in sys.argv[1:]]))
"""


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def test_spawned_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    fifos = []
    for i in range(4):
        fifo = tmp_path / f"cover-{i}.jpg"
        os.mkfifo(fifo)
        fifos.append(str(fifo))
    proc = subprocess.Popen([sys.executable, "-c", FRESH_POOL, *fifos])
    spawned: list[int] = []
    try:
        # 2 workers (and the resource tracker)
        assert _wait_for(lambda: len(_descendants(proc.pid)) >= 3, 60), "no workers"
        time.sleep(0.5)
        spawned = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        def left() -> list[str]:  # what still runs, by command line (for the message)
            found = []
            for pid in filter(_alive, spawned):
                try:
                    found.append(Path(f"/proc/{pid}/cmdline").read_bytes()[:80].decode())
                except OSError:  # it ended in between
                    continue
            return found

        assert _wait_for(lambda: not left(), 10), f"orphaned processes: {left()}"
    finally:
        proc.kill()
        proc.wait()
        for pid in filter(_alive, spawned):
            os.kill(pid, signal.SIGKILL)
