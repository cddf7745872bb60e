"""Fine-tuning under torchrun: 2 CPU processes (gloo on loopback) train the fine-tune rung with
DistributedDataParallel; rank 0 alone writes the run; the outcome matches one process within
tolerance (the shards' order and per-rank BatchNorm batches differ, the global batch does not)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ray_support import free_port
from tests.synthetic import write_synthetic_export

pytestmark = pytest.mark.timeout(900)

TINY = [
    "--method", "finetune", "--epochs", "2", "--image-size", "64", "--finetune-size", "64",
    "--train-stages", "2", "--batch-size", "16", "--device", "cpu", "--no-progress",
]  # fmt: skip


def train(export: Path, out: Path, data_dir: Path, processes: int) -> subprocess.CompletedProcess:
    args = ["--dataset", str(export), "--out", str(out), *TINY]
    if processes == 1:
        cmd = [sys.executable, "-m", "sleeve.training.cli", *args]
    else:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", str(processes), "--master-addr", "127.0.0.1",
            "--master-port", str(free_port()), "-m", "sleeve.training.cli", *args,
        ]  # fmt: skip
    # loopback only: gloo would otherwise pick the interface of the machine's hostname
    env = os.environ | {
        "SLEEVE_DATA_DIR": str(data_dir),
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=800)


def test_two_processes_match_one(tmp_path: Path) -> None:
    export = write_synthetic_export(tmp_path / "export", per_split=(16, 6, 6))
    single = train(export, tmp_path / "one", tmp_path / "data1", 1)
    assert single.returncode == 0, single.stderr[-2000:]
    double = train(export, tmp_path / "two", tmp_path / "data2", 2)
    assert double.returncode == 0, double.stderr[-2000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())["methods"]["finetune"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())["methods"]["finetune"]
    # rank 0 wrote one run, with one model file; rank 1 wrote nothing beside it
    assert (tmp_path / "two" / "model.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data1", "data2", "export", "one", "two"]
    assert not (tmp_path / "data2").exists() or not any((tmp_path / "data2").rglob("*.pt"))
    assert double.stdout.strip().splitlines()[-1] == str(tmp_path / "two")  # rank 0 reported once
    for split in ("val", "test"):
        a, b = one[split]["accuracy"], two[split]["accuracy"]
        assert abs(a - b) <= 0.25, (split, a, b)
    assert two["params"]["epochs_run"] == one["params"]["epochs_run"]
