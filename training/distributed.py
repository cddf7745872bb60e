"""Fine-tuning under ``torchrun``: one process per CPU socket or GPU, DistributedDataParallel.

``torchrun --nproc-per-node N -m sleeve.training.cli ...`` starts N copies of the command with
RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT in their environment. Every rank
joins the fine-tune rung (its training batches sharded by a DistributedSampler, gradients
averaged by DDP: gloo on CPU, NCCL on GPU); rank 0 alone runs the other rungs, selects, and
writes the run directory, checkpoints and model file. Without torchrun nothing here is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = World(0, 1, 0)


def world() -> World:
    """This process's place in a torchrun job (``SINGLE`` when not started by torchrun)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def join(device: torch.device) -> tuple[World, torch.device]:
    """Join the torchrun job once (gloo on CPU, NCCL on GPU); each rank gets its own GPU."""
    w = world()
    if w.size == 1:
        return w, device
    if device.type == "cuda":
        device = torch.device("cuda", w.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return w, device


def same_on_all(value: object) -> object:
    """Rank 0's ``value`` on every rank (e.g. the run directory, named by rank 0's clock)."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
