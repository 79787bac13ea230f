"""The video GAN on the CPU: critic and generator steps per second, fp32 and bf16.

Each row times the update `fit` runs (`AdversarialUpdate`: forward, backward with the
gradient penalty's double backward, per-group Adam) on batch 16 of 16-frame 64x64 Moving MNIST
clips, for `videogan-mmnist` at its paper widths (critic 64, frame generator 64) and at a
quarter of them (16, 16; what a CPU budget trains). A critic step scores real, fake and
interpolated clips in one call; a generator step unrolls the LSTM and decodes every frame in
one call. Precisions alternate within one run, so drift of the machine hits both alike.

    python bench/videogan_throughput.py [--steps 3] [--batch 16]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import torch

import genvid
from genvid.data import train_stream
from genvid.presets import update
from genvid.train import TrainConfig

SIZES = {
    "paper widths (64, 64)": {},
    "quarter widths (16, 16)": {"hidden_channels": 16, "critic_channels": 16},
}


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def rates(overrides: dict, batch: torch.Tensor, precision: str, steps: int) -> tuple[float, float]:
    """Clips per second of a critic step and of a generator step."""
    overrides = {**overrides, "n_critic": 1}  # even steps: critic; odd steps: generator
    torch.manual_seed(0)
    model = genvid.create("videogan-mmnist", **overrides)
    config = TrainConfig(batch_size=len(batch), precision=precision, grad_clip=None)
    step_fn = update("videogan-mmnist", **overrides)
    optimizers = step_fn.optimizers(model, config)
    seconds = {0: 0.0, 1: 0.0}
    for k in range(2 * (steps + 1)):
        start = time.perf_counter()
        step_fn(model, batch, optimizers, step=k, config=config)
        if k >= 2:  # the first critic and generator steps warm up
            seconds[k % 2] += time.perf_counter() - start
    return len(batch) * steps / seconds[0], len(batch) * steps / seconds[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps of each phase per row")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    batch = train_stream("moving-mnist", seed=0).batch(0, args.batch)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"batch {args.batch} clips of 16 x 1 x 64 x 64, WGAN-GP (lambda 10)\n")
    print("| videogan-mmnist | precision | critic step clips/s | generator step clips/s |")
    print("|---|---|---:|---:|")
    for name, overrides in SIZES.items():
        for precision in ("fp32", "bf16"):
            critic, generator = rates(overrides, batch, precision, args.steps)
            print(f"| {name} | {precision} | {critic:.2f} | {generator:.2f} |")


if __name__ == "__main__":
    main()
