"""A real Ray head on 127.0.0.1 for the engine tests (2 worker CPUs), started once a session.

Loopback only (shared/docs/local-services.md): ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in the
environment of ``ray start`` and of this driver, or Ray would swap 127.0.0.1 for the machine's
interface address. Its own ``--temp-dir``, so it is never confused with another cluster, and
stopped at the end by the process ids that carry that directory (``ray stop`` would stop every
Ray cluster of this user on the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process (Linux /proc; psutil is not a
    dependency of ray)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (ppid, cmdline.strip())
    return found


def cluster_pids(temp_dir: str) -> list[int]:
    """The cluster living in ``temp_dir``: its services (their command lines name it) and
    their descendants (workers retitle themselves ``ray::...``)."""
    procs = _processes()
    ours = {pid for pid, (_, cmd) in procs.items() if temp_dir in cmd and pid != os.getpid()}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in procs.items() if ppid in ours} - ours
        ours |= children
        grew = bool(children)
    return sorted(ours)


def worker_pids(temp_dir: str, task_name: str) -> list[int]:
    """Workers of the cluster running ``task_name`` now (titled ``ray::<task name>``)."""
    procs = _processes()
    return [
        pid
        for pid in cluster_pids(temp_dir)
        if pid in procs and procs[pid][1].startswith(f"ray::{task_name}")
    ]


def _stop(temp_dir: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = cluster_pids(temp_dir)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline and cluster_pids(temp_dir):
            time.sleep(0.2)


class RayHead:
    def __init__(self, address: str, temp_dir: str) -> None:
        self.address = address
        self.temp_dir = temp_dir


def start_head(num_cpus: int = 2) -> RayHead:
    """``ray start --head`` on 127.0.0.1 with ``num_cpus`` worker CPUs, in its own temp dir.
    Set ``LOOPBACK_ENV`` in this process before ``ray`` is imported (it reads it once)."""
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must be short
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "ray"), "start", "--head",
        "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(num_cpus),
        "--object-store-memory", "200000000", "--include-dashboard=false",
        "--disable-usage-stats", "--temp-dir", temp_dir,
        # ports that default to fixed numbers: free ones, so two clusters can coexist
        "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()),
    ]  # fmt: skip
    env = os.environ | LOOPBACK_ENV
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=180)
    return RayHead(f"127.0.0.1:{port}", temp_dir)


def stop_head(head: RayHead) -> None:
    """Disconnect this driver, stop the head's processes by pid, remove its temp dir."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _stop(head.temp_dir)
    shutil.rmtree(head.temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    saved = {k: os.environ.get(k) for k in LOOPBACK_ENV}
    os.environ.update(LOOPBACK_ENV)  # the driver (these tests): before ray is imported, which
    # reads it once; else the driver talks to the head over the interface address
    try:
        ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'sleeve[ray]')")
        assert not ray._private.ray_constants.ENABLE_RAY_CLUSTER, "ray was imported too early"
        head = start_head(2)
        try:
            yield head
        finally:
            stop_head(head)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
