"""Test NLL of PixelCNN on the fixed binarized MNIST after a stated CPU training budget.

Trains `pixelcnn-mnist` with the command line (bf16 autocast, Adam, cosine schedule), then
evaluates all 10,000 fixed binarized MNIST test images in float32, and prints a table beside
the paper's 81.30 nats (van den Oord et al. 2016, table 4) and what doing nothing scores: every
pixel an independent Bernoulli of its frequency in the 50,000 training images (add-one
smoothed). An existing finished run in `--out` is evaluated again rather than retrained.

    python bench/pixelcnn_mnist_nll.py [--steps 10000] [--out runs/nll30]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from genvid.data import load_binarized_mnist

PAPER_NATS = 81.30


def genvid(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "genvid", *args], check=True)


def independent_pixels_nll() -> tuple[float, float]:
    """Test NLL (mean, standard error; nats/image) of independent per-pixel Bernoullis."""
    train = load_binarized_mnist("train").double()
    test = load_binarized_mnist("test").double()
    p = (train.sum(0) + 1) / (len(train) + 2)
    nll = -(test * p.log() + (1 - test) * (1 - p).log()).sum((1, 2, 3))
    return nll.mean().item(), (nll.std() / len(nll) ** 0.5).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10000, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step")
    parser.add_argument("--out", default="runs/nll30", help="run directory")
    args = parser.parse_args()
    out = Path(args.out)
    wall = None
    if not (out / "config.json").exists():
        start = time.perf_counter()
        genvid(
            "train", "pixelcnn-mnist", "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--precision", "bf16",
            "--lr-schedule", "cosine", "--warmup-steps", "200",
            "--checkpoint-every", "1000", "--log-every", "100", "--out", str(out),
        )  # fmt: skip
        wall = time.perf_counter() - start
    genvid("eval", str(out))
    report = json.loads((out / "eval.json").read_text())
    train = json.loads((out / "config.json").read_text())["train"]
    print(f"\nbudget: {train['steps']} steps x batch {train['batch_size']}, {train['precision']}")
    if wall is not None:
        print(f"training wall time: {wall / 60:.1f} min")
    print("| model | test NLL (nats/image) | bits/dim | paper |")
    print("|---|---:|---:|---:|")
    print(
        f"| pixelcnn-mnist | {report['nll_nats']:.2f} +- {report['nll_nats_stderr']:.2f} | "
        f"{report['bits_per_dim']:.4f} | {PAPER_NATS:.2f} |"
    )
    mean, stderr = independent_pixels_nll()
    print(
        f"| independent pixels (training frequencies) | {mean:.2f} +- {stderr:.2f} | "
        f"{mean / (28 * 28 * math.log(2)):.4f} | |"
    )


if __name__ == "__main__":
    main()
