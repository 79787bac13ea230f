"""The video families' steps against this CPU's arithmetic peak: GFLOP, GFLOP/s, fraction.

Rows, each in fp32 and under bf16 autocast:
- I3D features for FVD: one forward pass over 8 clips of 16 frames at 224x224 (inference);
- SVG-LP's training step at the paper's size (`svg-lp-smmnist`, batch 16 of 15 frames);
- the video GAN's critic step and generator step (`videogan-mmnist`, batch 16 of 16 frames), at
  the paper's widths (64, 64) and at the quarter widths (16, 16) that a CPU budget trains.
A training row times the update `fit` runs (forward, backward, the guard, the optimisers).

The peak: a plain 3x3 convolution (`conv2d`, channels-last, batch 8 of 64x64, 128 and 256 maps,
the faster of the two), forward only beside the inference row and forward + backward beside
the training rows, at the same precision, timed in the same rounds.

A row's work is counted once by `torch.utils.flop_counter` (convolutions and matrix products:
elementwise work and the optimiser are left out, so the fraction says how near the row runs
its counted arithmetic to the convolution's rate). Every row and every peak is timed once per
round, the rounds alternating, so drift of the machine hits all alike: the table gives the
median GFLOP/s over the rounds and their spread (min-max).

    python bench/peak_fraction.py [--rounds 3] [--rows i3d,svg,gan]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import genvid
from genvid.data import train_stream
from genvid.nn.i3d import load_i3d_weights
from genvid.presets import update
from genvid.train import TrainConfig

PRECISIONS = ("fp32", "bf16")
GAN_WIDTHS = {"paper widths": {}, "quarter widths": {"hidden_channels": 16, "critic_channels": 16}}


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    family, model = fields.get("CPU family", "?").strip(), fields.get("Model", "?").strip()
    return f"{fields.get('Model name', '?').strip()} (family {family}, model {model})"


def autocast(precision: str) -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def counted_gflop(run: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 1e9


def conv_peak(maps: int, precision: str, backward: bool) -> tuple[Callable[[], None], float]:
    """A 3x3 convolution step and its GFLOP (a backward pass costs twice the forward)."""
    x = torch.randn(8, maps, 64, 64).to(memory_format=torch.channels_last)
    weight = torch.randn(maps, maps, 3, 3, requires_grad=backward)
    x.requires_grad_(backward)

    def run() -> None:
        with autocast(precision):
            out = F.conv2d(x, weight, padding=1)
        if backward:
            out.sum().backward()

    return run, 2 * 8 * 64 * 64 * maps * maps * 9 / 1e9 * (3 if backward else 1)


def i3d_row(precision: str) -> tuple[Callable[[], None], float]:
    model = load_i3d_weights()
    clips = torch.rand(8, 3, 16, 224, 224) * 2 - 1

    def run() -> None:
        with torch.no_grad(), autocast(precision):
            model(clips)

    return run, counted_gflop(run)


def update_rows(preset: str, batch: torch.Tensor, precision: str, **overrides) -> list[tuple]:
    """One (name, step, GFLOP) per phase of the preset's update: what `fit` calls."""
    adversarial = preset.startswith("videogan")
    if adversarial:
        overrides = {**overrides, "n_critic": 1}  # even steps: critic; odd: generator
    torch.manual_seed(0)
    model = genvid.create(preset, **overrides)
    config = TrainConfig(batch_size=len(batch), precision=precision, grad_clip=None)
    step_fn = update(preset, **overrides)
    optimizers = step_fn.optimizers(model, config)
    phases = ["critic step", "generator step"] if adversarial else ["training step"]
    counter = {"step": 0}

    def stepper(phase: int) -> Callable[[], None]:
        def run() -> None:
            while counter["step"] % len(phases) != phase:  # keep the phases' order
                step_fn(model, batch, optimizers, step=counter["step"], config=config)
                counter["step"] += 1
            step_fn(model, batch, optimizers, step=counter["step"], config=config)
            counter["step"] += 1

        return run

    rows = []
    for phase, name in enumerate(phases):
        run = stepper(phase)
        rows.append((name, run, counted_gflop(run)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timings of each row")
    parser.add_argument("--rows", default="i3d,svg,gan", help="which families' rows")
    args = parser.parse_args()
    families = set(args.rows.split(","))
    rows = []  # (label, precision, backward, run, gflop)
    for precision in PRECISIONS:
        if "i3d" in families:
            rows.append(("I3D features, 8 clips 16x224x224", precision, False, *i3d_row(precision)))
        if "svg" in families:
            batch = train_stream("moving-mnist-stochastic", seed=0).batch(0, 16)
            for name, run, gflop in update_rows("svg-lp-smmnist", batch, precision):
                rows.append((f"SVG-LP {name}, batch 16 x 15 frames", precision, True, run, gflop))
        if "gan" in families:
            batch = train_stream("moving-mnist", seed=0).batch(0, 16)
            for width, overrides in GAN_WIDTHS.items():
                for name, run, gflop in update_rows(
                    "videogan-mmnist", batch, precision, **overrides
                ):
                    label = f"video GAN {name}, {width}, batch 16 x 16 frames"
                    rows.append((label, precision, True, run, gflop))
    peaks = {
        (maps, precision, backward): conv_peak(maps, precision, backward)
        for maps in (128, 256)
        for precision in PRECISIONS
        for backward in (False, True)
    }
    timings: dict[object, list[float]] = {}
    for run, _ in [*peaks.values(), *[row[3:] for row in rows]]:
        run()  # warm-up
    for _ in range(args.rounds):
        for key, (run, gflop) in [*peaks.items(), *[(row[:3], row[3:]) for row in rows]]:
            start = time.perf_counter()
            run()
            timings.setdefault(key, []).append(gflop / (time.perf_counter() - start))

    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{args.rounds} rounds; GFLOP/s as median (min-max)\n")
    print("| 3x3 convolution peak | precision | pass | GFLOP/s |")
    print("|---|---|---|---:|")
    peak = {}
    for precision in PRECISIONS:
        for backward in (False, True):
            best = max((128, 256), key=lambda m: statistics.median(timings[m, precision, backward]))
            rates = timings[best, precision, backward]
            peak[precision, backward] = statistics.median(rates)
            spread = f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})"
            pass_ = "forward + backward" if backward else "forward"
            print(f"| {best} maps, 64x64, batch 8 | {precision} | {pass_} | {spread} |")
    print("\n| step | precision | GFLOP | GFLOP/s | fraction of peak |")
    print("|---|---|---:|---:|---:|")
    for label, precision, backward, _, gflop in rows:
        rates = timings[label, precision, backward]
        median, fraction = (
            statistics.median(rates),
            statistics.median(rates) / peak[precision, backward],
        )
        spread = f"{median:.0f} ({min(rates):.0f}-{max(rates):.0f})"
        print(f"| {label} | {precision} | {gflop:.1f} | {spread} | {fraction:.0%} |")


if __name__ == "__main__":
    main()
