"""Seconds per training step of a likelihood model, timed on the step `fit` runs.

`genvid.train.train_step` is that step: forward (bf16 autocast if asked), backward, the
non-finite guard, gradient clipping at `TrainConfig`'s default, optimiser step. A benchmark
that times its own loop of forward, backward and step leaves the guard and the clipping out,
so its figure is not what training costs. The benchmarks import this module (`python
bench/x.py` puts bench/ on the path).
"""

from __future__ import annotations

import time

import torch

from genvid.train import TrainConfig, train_step

DEFAULTS = TrainConfig()


def seconds_per_step(
    net: torch.nn.Module,
    batch: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    warmup: int = 1,
    precision: str = "fp32",
) -> float:
    """Mean seconds of `steps` calls of `train_step` on `batch`, after `warmup` untimed ones.

    `net` may be a compiled module (the warm-up then compiles it); `optimizer` holds the
    parameters to update. Clipping is `TrainConfig`'s default, as a `genvid train` without
    `--grad-clip` runs.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        train_step(
            net,
            batch,
            optimizer,
            precision=precision,
            grad_clip=DEFAULTS.grad_clip,
            clip_mode=DEFAULTS.grad_clip_mode,
            step=step + 1,
        )
    return (time.perf_counter() - start) / steps
