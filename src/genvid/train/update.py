"""What one training step does: the pluggable update inside the one `fit`.

An update owns the named optimisers it steps and the step itself; `fit` owns everything else
(data, devices, DDP, schedules, logging, checkpoints). Two kinds exist:

- `LikelihoodUpdate` (the default): one group, "model", every parameter, the `TrainConfig`'s
  optimiser; forward, backward, clip, step. What every likelihood model and SVG train with.
- `genvid.train.adversarial.AdversarialUpdate`: named parameter groups with an optimiser each,
  alternating phases (critic, generator) on a schedule.

`fit` builds one learning-rate schedule per named optimiser and checkpoints all of them, and
the update's own state (`state_dict`), by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import torch
from torch import Tensor, nn

from genvid.train.config import TrainConfig
from genvid.train.optim import build_optimizer


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm was NaN or infinite; the optimiser did not step."""


class Update(Protocol):
    """How a training step changes the model (see the module docstring)."""

    # Whether DDP must look for parameters a step leaves without gradients (alternating phases).
    find_unused_parameters: bool

    def optimizers(self, model: nn.Module, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """The named optimisers of `model`, built once per `fit` (checkpointed by name)."""
        ...

    def __call__(
        self,
        net: nn.Module,
        batch: Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        step: int,
        config: TrainConfig,
        rank: int,
        world_size: int,
    ) -> dict[str, Tensor]:
        """Update `step` (0-based): returns detached scalars with a "loss" key.

        Raises `NonFiniteLossError` before any optimiser has stepped.
        """
        ...

    def describe(self, config: TrainConfig) -> str:
        """The optimisers this update builds under `config`, e.g. "adam lr 0.002"."""
        ...

    def state_dict(self) -> dict:
        """What a resumed run needs besides the optimisers (e.g. the current phase)."""
        ...

    def load_state_dict(self, state: dict) -> None: ...


class LikelihoodUpdate:
    """The default update: one optimiser ("model") over every parameter, one backward."""

    find_unused_parameters = False

    def optimizers(self, model: nn.Module, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"model": build_optimizer(model, config)}

    def __call__(
        self,
        net: nn.Module,
        batch: Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        step: int,
        config: TrainConfig,
        rank: int = 0,
        world_size: int = 1,
    ) -> dict[str, Tensor]:
        return train_step(
            net,
            batch,
            optimizers["model"],
            precision=config.precision,
            grad_clip=config.grad_clip,
            clip_mode=config.grad_clip_mode,
            step=step + 1,
        )

    def describe(self, config: TrainConfig) -> str:
        return f"{config.optimizer} lr {config.lr:g}"

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"the likelihood update keeps no state, got {sorted(state)}")


def train_step(
    net: nn.Module,
    batch: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    precision: str = "fp32",
    grad_clip: float | None = None,
    clip_mode: str = "global",
    step: int = 0,
) -> dict[str, Tensor]:
    """One likelihood update: forward (bf16 autocast if asked), backward, clip, guard, step.

    Under DDP the gradients are averaged across ranks during backward, so the global gradient
    norm, and hence the guard's verdict, is the same on every rank.

    Returns:
        The model's outputs, detached, plus "grad_norm" (the global norm before clipping).

    Raises:
        NonFiniteLossError: naming `step`, before the optimiser has touched anything.
    """
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = net(batch)
    loss = checked_loss(out)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    guard(loss, {"": norm}, step)
    clip_gradients(params, grad_clip, clip_mode, norm)
    optimizer.step()
    metrics = {name: value.detach().float() for name, value in out.items()}
    metrics["grad_norm"] = norm.detach().float()
    return metrics


def checked_loss(out: object) -> Tensor:
    """The "loss" of a model's output dict, or a clear error naming what came instead."""
    if not isinstance(out, dict) or "loss" not in out:
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise ValueError(f"the model must return a dict with a 'loss' key, got {got}")
    return out["loss"]


def guard(loss: Tensor, norms: dict[str, Tensor], step: int) -> None:
    """Raise `NonFiniteLossError` if the loss or a gradient norm is not finite (one host sync).

    `norms` maps a group name ("" for all parameters) to its gradient norm.
    """
    values = torch.stack([loss.detach().float(), *(n.float() for n in norms.values())])
    if bool(torch.isfinite(values).all()):
        return
    if not torch.isfinite(loss):
        raise NonFiniteLossError(f"loss is {loss.item()} at step {step}")
    name, norm = next((n, v) for n, v in norms.items() if not torch.isfinite(v))
    what = f"gradient norm of {name}" if name else "gradient norm"
    raise NonFiniteLossError(f"{what} is {norm.item()} at step {step}")


def clip_gradients(
    params: Iterable[nn.Parameter], max_norm: float | None, mode: str, total_norm: Tensor
) -> None:
    """Clip in place: "global" scales all gradients by one factor so their joint norm is at most
    `max_norm` (`total_norm` is that joint norm); "tensor" clips each parameter's gradient to
    its own norm, so a large gradient in one tensor does not shrink the others."""
    params = list(params)
    if max_norm is None or not params:
        return
    if mode == "global":
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total_norm)
    elif mode == "tensor":
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], max_norm)
    else:
        raise ValueError(f"clip mode must be 'global' or 'tensor', got {mode!r}")
