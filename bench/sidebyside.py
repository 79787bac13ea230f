"""genvid beside another implementation: each "way" is one training step to time, and the ways
alternate within every round, so the machine's drift hits all alike (`svg_vs_original.py`,
`pixelcnn_vs_pytorch_generative.py`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from steptimer import DEFAULTS, seconds_per_step
from torch.utils.flop_counter import FlopCounterMode

from genvid.train import train_step

GENVID_WAYS = {  # name: (precision, channels_last)
    "genvid fp32": ("fp32", False),
    "genvid fp32 channels_last": ("fp32", True),
    "genvid bf16 autocast": ("bf16", False),
    "genvid bf16 autocast channels_last": ("bf16", True),
}


@dataclass
class Way:
    """One thing to time: `step()` runs one training step and returns its scalars; `timed(n)`
    runs n steps and returns the seconds per step."""

    name: str
    parameters: int
    step: Callable[[], dict]
    timed: Callable[[int], float]
    gflop: float = 0.0  # per example, forward + backward of one step
    first: dict = field(default_factory=dict)  # the first step's scalars
    rates: list[float] = field(default_factory=list)  # examples/s, one per round


def genvid_ways(
    make_model: Callable[[], torch.nn.Module], batch: torch.Tensor, *, lr: float
) -> list[Way]:
    """One way per `GENVID_WAYS` entry, each a fresh `make_model()` drawn after seeding 0."""
    ways = []
    for name, (precision, channels_last) in GENVID_WAYS.items():
        torch.manual_seed(0)
        model = make_model()
        ways.append(
            genvid_way(name, model, batch, precision=precision, channels_last=channels_last, lr=lr)
        )
    return ways


def genvid_way(
    name: str,
    model: torch.nn.Module,
    batch: torch.Tensor,
    *,
    precision: str,
    channels_last: bool,
    lr: float,
) -> Way:
    """`model` trained by `train_step` as `fit` runs it (one Adam; the non-finite guard and
    `TrainConfig`'s default clipping included), in channels_last with its 4-D batch if asked."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        if batch.dim() == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step() -> dict:
        return train_step(
            model,
            batch,
            optimizer,
            precision=precision,
            grad_clip=DEFAULTS.grad_clip,
            clip_mode=DEFAULTS.grad_clip_mode,
        )

    def timed(steps: int) -> float:
        return seconds_per_step(model, batch, optimizer, steps=steps, warmup=0, precision=precision)

    return Way(name, sum(p.numel() for p in model.parameters()), step, timed)


def measure(ways: list[Way], examples: int, *, rounds: int, steps: int) -> None:
    """Count each way's work on its first step (kept as `first`), warm it up once, then time
    `steps` steps of every way in each of `rounds` rounds."""
    for way in ways:
        with FlopCounterMode(display=False) as counter:
            way.first = way.step()
        way.gflop = counter.get_total_flops() / 1e9 / examples
        way.step()  # warm-up
    for _ in range(rounds):
        for way in ways:
            way.rates.append(examples / way.timed(steps))


def print_tables(ways: list[Way], *, example: str, reference: str, scalars: dict[str, str]) -> None:
    """The rates table (each round, the median, the ratio to `ways[0]`, called `reference`) and
    each way's GFLOP/s with the first step's `scalars` ({column: key, formatted %.5g})."""
    first = statistics.median(ways[0].rates)
    print(
        f"| way | parameters | GFLOP per {example} | {example}s/s per round | median "
        f"| ratio to {reference} |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for way in ways:
        median = statistics.median(way.rates)
        rounds = ", ".join(f"{r:.2f}" for r in way.rates)
        print(
            f"| {way.name} | {way.parameters:,} | {way.gflop:.2f} | {rounds} | {median:.2f} "
            f"| {median / first:.2f}x |"
        )
    print("\n| way | GFLOP/s (median) | " + " | ".join(scalars) + " |")
    print("|---|---:|" + "---:|" * len(scalars))
    for way in ways:
        rate = way.gflop * statistics.median(way.rates)
        values = " | ".join(f"{float(way.first[key]):.5g}" for key in scalars.values())
        print(f"| {way.name} | {rate:.1f} | {values} |")
