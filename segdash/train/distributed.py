"""torchrun / DistributedDataParallel plumbing, kept out of the training loop.

    torchrun --nproc_per_node=2 -m segdash train brain-mri --device cpu --out runs/ddp

Under torchrun (``WORLD_SIZE`` > 1 in the environment) each process trains on
its share of every epoch (``DistributedSampler``), gradients are averaged by
DDP, and losses and confusion matrices are summed across processes with one
all-reduce. Backend: NCCL when training on CUDA, gloo on the CPU. Only rank 0
writes the run directory.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist

from segdash.device import choose_device
from segdash.errors import SegdashError


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device_name: str | None) -> DistInfo:
    """Initialise the process group when launched by torchrun; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(0, 1, 0, choose_device(device_name))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = choose_device(device_name)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise SegdashError(
                f"torchrun started {world_size} processes per node but only {torch.cuda.device_count()} GPU(s) "
                "exist: lower --nproc_per_node or use --device cpu"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise SegdashError(f"distributed training runs on CUDA or CPU, not {device.type}: use --device cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world_size, local_rank, device)


def teardown(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``tensor`` over all processes (in place, returned); a no-op for one process."""
    if info.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_to_main(item, info: DistInfo) -> list | None:
    """Every process's ``item`` (a small picklable object), in rank order, on rank 0; None on the others.

    One process gives ``[item]``. Meant for results of counts and per-image rows, not for tensors of data.
    """
    if not info.distributed:
        return [item]
    gathered = [None] * info.world_size if info.is_main else None
    dist.gather_object(item, gathered, dst=0)
    return gathered
