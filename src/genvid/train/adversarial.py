"""The adversarial update: named parameter groups, one optimiser each, alternating phases.

A GAN is trained by the same `fit` as every other model; only the step differs. The model
names its parameter groups (e.g. "critic", "frame_generator", "lstm") and its phases (which
groups a phase steps: "critic" -> ("critic",), "generator" -> ("frame_generator", "lstm")),
and computes each phase's loss in one `forward(batch, phase=..., draws=...)` call, so DDP sees
one forward and one backward per step. Each fit step is one phase's update on batch k of the
stream; a schedule says which phase step k is (n_critic critic steps, then one generator step).

Randomness (noise vectors, interpolation weights, instance noise) is drawn for the global batch
from a generator seeded by (seed, step) and sliced by rank, so a resumed run and a 2-process run
draw exactly what an uninterrupted 1-process run draws.

Under DDP the whole model is wrapped once, with `find_unused_parameters` (a critic step runs
the generator without gradients); a generator step also computes and averages the critic's
gradients, which its next step zeroes before use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn

from genvid.train.config import TrainConfig
from genvid.train.optim import make_optimizer
from genvid.train.update import checked_loss, clip_gradients, guard


class AdversarialModel(Protocol):
    """What an adversarial model shows the update (see `genvid.models.videogan`)."""

    phases: dict[str, tuple[str, ...]]  # phase -> the parameter groups its update steps

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]: ...

    def draw(self, n: int, phase: str, generator: torch.Generator) -> dict[str, Tensor]:
        """Per-example random tensors of one phase step for `n` examples (leading dim `n`)."""
        ...


@dataclass(frozen=True)
class GroupRecipe:
    """The optimiser of one parameter group."""

    optimizer: Literal["adam", "sgd", "rmsprop"]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)  # Adam
    momentum: float = 0.0  # SGD, RMSprop

    def build(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        option = {"betas": self.betas} if self.optimizer == "adam" else {"momentum": self.momentum}
        return make_optimizer(self.optimizer, params, self.lr, **option)


@dataclass(frozen=True)
class CriticSchedule:
    """n_critic critic steps before each generator step, more during a warm-up.

    The phase of step k is a pure function of k: the warm-up is `warmup_generator_steps`
    cycles of `warmup_n_critic` critic steps and one generator step (the seed: 25 cycles of
    100), then cycles of `n_critic` (Gulrajani et al.: 5) and one.
    """

    n_critic: int = 5
    warmup_n_critic: int = 100
    warmup_generator_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("n_critic", "warmup_n_critic", "warmup_generator_steps"):
            if getattr(self, name) < (0 if name == "warmup_generator_steps" else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def phase(self, step: int) -> str:
        warmup = self.warmup_generator_steps * (self.warmup_n_critic + 1)
        if step < warmup:
            position, cycle = step, self.warmup_n_critic + 1
        else:
            position, cycle = step - warmup, self.n_critic + 1
        return "generator" if position % cycle == cycle - 1 else "critic"


@dataclass(frozen=True)
class ThresholdSchedule:
    """Train each network until its loss passes a threshold (the seed's option), then the other.

    The critic trains until its loss (averaged over ranks) is below `critic_below`, the
    generator until its loss is below `generator_below`; `max_steps` bounds either phase, so a
    threshold that is never reached still alternates. Stateful: the phase is checkpointed.
    """

    critic_below: float
    generator_below: float
    max_steps: int = 100

    def next_phase(self, phase: str, count: int, loss: float) -> tuple[str, int]:
        below = self.critic_below if phase == "critic" else self.generator_below
        if loss < below or count >= self.max_steps:
            return ("generator" if phase == "critic" else "critic"), 0
        return phase, count


class AdversarialUpdate:
    """One phase's update per fit step, each group with its own optimiser (see module doc).

    Args:
        recipes: group name -> its optimiser; must name exactly the model's groups.
        schedule: which phase each step is (`CriticSchedule` or `ThresholdSchedule`).
    """

    find_unused_parameters = True

    def __init__(
        self, recipes: dict[str, GroupRecipe], schedule: CriticSchedule | ThresholdSchedule
    ) -> None:
        self.recipes = recipes
        self.schedule = schedule
        self.phase, self.count = "critic", 0  # the threshold schedule's state
        self._last: dict[str, dict[str, Tensor]] = {}  # each phase's latest metrics, for logs

    def optimizers(self, model: nn.Module, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        defaults = TrainConfig()
        for name in ("lr", "optimizer", "weight_decay"):
            if getattr(config, name) != getattr(defaults, name):
                raise ValueError(
                    f"--{name.replace('_', '-')} does not apply to an adversarial model: each "
                    "parameter group has its own optimiser in the model config (e.g. --set "
                    "critic_lr=2e-4)"
                )
        groups = model.parameter_groups()
        if groups.keys() != self.recipes.keys():
            raise ValueError(
                f"the model's parameter groups {sorted(groups)} do not match the recipe's "
                f"{sorted(self.recipes)}"
            )
        stepped = {g for names in model.phases.values() for g in names}
        if stepped != groups.keys():
            raise ValueError(f"phases {model.phases} must step every group of {sorted(groups)}")
        return {name: self.recipes[name].build(groups[name]) for name in groups}

    def current_phase(self, step: int) -> str:
        if isinstance(self.schedule, CriticSchedule):
            return self.schedule.phase(step)
        return self.phase

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
        model = _unwrapped(net)
        phase = self.current_phase(step)
        draws = _draws(model, phase, config, step, rank, world_size, batch.device)
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        with torch.autocast(
            batch.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"
        ):
            out = net(batch, phase=phase, draws=draws)
        loss = checked_loss(out)
        loss.backward()
        stepped = model.phases[phase]
        params = {g: [p for p in _params(optimizers[g]) if p.grad is not None] for g in stepped}
        norms = {g: torch.nn.utils.get_total_norm([p.grad for p in ps]) for g, ps in params.items()}
        guard(loss, norms, step + 1)
        for group in stepped:
            clip_gradients(params[group], config.grad_clip, config.grad_clip_mode, norms[group])
            optimizers[group].step()
        if isinstance(self.schedule, ThresholdSchedule):
            mean = _mean_over_ranks(loss.detach().float(), world_size)
            self.phase, self.count = self.schedule.next_phase(phase, self.count + 1, mean)
        self._last[phase] = {
            **{f"{phase}/{k}": v.detach().float() for k, v in out.items() if k != "loss"},
            f"{phase}/loss": loss.detach().float(),
            **{f"grad_norm/{g}": n.detach().float() for g, n in norms.items()},
        }
        metrics = {"loss": loss.detach().float()}
        for latest in self._last.values():
            metrics.update(latest)
        return metrics

    def describe(self, config: TrainConfig) -> str:
        """Each group's optimiser (the model config's: `config` has none of its own)."""
        return ", ".join(f"{group} {r.optimizer} lr {r.lr:g}" for group, r in self.recipes.items())

    def state_dict(self) -> dict:
        return {"phase": self.phase, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        if state.get("phase") not in ("critic", "generator") or not isinstance(
            state.get("count"), int
        ):
            raise ValueError(f"the adversarial update's state is damaged: {state}")
        self.phase, self.count = state["phase"], state["count"]


def _unwrapped(net: nn.Module) -> nn.Module:
    """The model inside torch.compile's and DDP's wrappers (its groups, phases and draws)."""
    net = getattr(net, "_orig_mod", net)
    return getattr(net, "module", net)


def _params(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _draws(
    model: nn.Module,
    phase: str,
    config: TrainConfig,
    step: int,
    rank: int,
    world_size: int,
    device: torch.device,
) -> dict[str, Tensor]:
    """This rank's slice of the global batch's random tensors for update `step`."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    drawn = model.draw(config.batch_size, phase, generator)
    local = config.batch_size // world_size
    return {k: v[rank * local : (rank + 1) * local].to(device) for k, v in drawn.items()}


def _mean_over_ranks(value: Tensor, world_size: int) -> float:
    if world_size > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world_size
    return float(value)
