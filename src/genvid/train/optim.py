"""Optimiser and learning-rate schedule, built from a `TrainConfig` (models never build them)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial

import torch
from torch import nn

from genvid.train.config import TrainConfig

OPTIMIZERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}


def make_optimizer(
    kind: str, params: Iterable[nn.Parameter], lr: float, **options
) -> torch.optim.Optimizer:
    """PyTorch's optimiser `kind` ("adam", "rmsprop" or "sgd") over `params`; `options` (betas,
    momentum, weight_decay, ...) go to it unchanged, the rest keep PyTorch's defaults."""
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {kind!r}")
    return OPTIMIZERS[kind](list(params), lr=lr, **options)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The config's optimiser over every trainable parameter, with PyTorch's default
    betas/alpha."""
    params = (p for p in model.parameters() if p.requires_grad)
    return make_optimizer(config.optimizer, params, config.lr, weight_decay=config.weight_decay)


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of `config.lr` for the update that follows `step` completed updates.

    Linear warm-up: update k (1-based) of the first `warmup_steps` uses lr * k / warmup_steps.
    Then "constant" keeps 1; "cosine" follows (1 + cos(pi * t)) / 2 with t going from 0 at the
    end of warm-up to 1 at `config.steps`, so the schedule is keyed by the run's total length.
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return 1.0
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per update; its lr is a pure function of the step and config."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, partial(lr_factor, config=config))


def sync_lr(scheduler: torch.optim.lr_scheduler.LambdaLR, step: int) -> None:
    """Set the lr for the update after `step` from the current config.

    After a resume with a longer `steps`, the stored optimiser holds the lr of the old schedule;
    this makes the next update follow the new one.
    """
    for group, base_lr, factor in zip(
        scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
    ):
        group["lr"] = base_lr * factor(step)
