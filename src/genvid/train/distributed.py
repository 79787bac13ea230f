"""Processes and devices: single-process runs and `torchrun` (DDP) runs behind one small object.

Under `torchrun` the environment holds RANK, WORLD_SIZE and LOCAL_RANK; `setup` then joins the
process group (gloo on CPU, NCCL on CUDA). A world of one process needs no group at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank, the world size and the device it computes on."""

    rank: int
    world_size: int
    device: torch.device
    owns_group: bool  # True when `setup` created the process group, so `teardown` ends it

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, TensorBoard events and the progress bar."""
        return self.rank == 0


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """Turn "auto" | "cpu" | "cuda" | "cuda:N" into a device; each local rank gets its own GPU."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", spec):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    device = torch.device(spec if ":" in spec else f"cuda:{local_rank}")
    if device.index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r} requested but only {torch.cuda.device_count()} GPUs")
    return device


def setup(device_spec: str) -> Dist:
    """Read the torchrun environment, pick the device and join the process group if needed."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(device_spec, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns_group = world_size > 1 and not dist.is_initialized()
    if owns_group:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    return Dist(rank, world_size, device, owns_group)


def teardown(ctx: Dist) -> None:
    """Leave the process group if `setup` joined it."""
    if ctx.owns_group:
        dist.destroy_process_group()


def barrier(ctx: Dist) -> None:
    """Wait for every rank (a no-op in a one-process world)."""
    if ctx.world_size > 1:
        # NCCL wants to know the GPU up front; gloo takes no device ids.
        dist.barrier(device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


def mean_over_ranks(ctx: Dist, values: Tensor) -> Tensor:
    """Average a tensor over ranks, so that what rank 0 logs is the global-batch mean."""
    if ctx.world_size > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= ctx.world_size
    return values


def gather_objects(ctx: Dist, obj: object) -> list[object]:
    """Every rank's `obj`, in rank order, on every rank (used for per-rank RNG states)."""
    if ctx.world_size == 1:
        return [obj]
    gathered: list[object] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def raise_from_main(ctx: Dist, error: BaseException | None) -> None:
    """Raise rank 0's `error` on every rank, or return on all when it is None: a failure only
    rank 0 could see (its lock, its checkpoint write) stops all of them, none left at a barrier.
    A collective: every rank calls it."""
    if ctx.world_size > 1:
        box = [error]
        dist.broadcast_object_list(box, src=0)
        error = box[0]
    if error is not None:
        raise error
