"""Binarized MNIST test NLL of several presets trained with the same command shape.

For each `PRESET=STEPS` pair: `genvid train PRESET --steps STEPS --batch-size B --optimizer
adam --lr 1e-3 --precision bf16 --lr-schedule cosine --out RUNS/PRESET` (one recipe for all,
whatever each preset's own), then `genvid eval` on all 10,000 fixed binarized
MNIST test images (float32). Steps are chosen per model so that each trains for about the same
wall time on this CPU; the table prints the measured training time beside each result and the
paper's figure (van den Oord et al. 2016, table 4).

    python bench/mnist_nll_table.py --runs runs/table \\
        --models pixelcnn-mnist=4700,row-lstm-mnist=1970,diagonal-bilstm-mnist=675
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PAPER_NATS = {
    "pixelcnn-mnist": 81.30,
    "row-lstm-mnist": 80.54,
    "diagonal-bilstm-mnist": 79.20,
    "multiscale-pixelrnn-mnist": None,  # the paper reports no MNIST figure for it
}


def genvid(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "genvid", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="PRESET=STEPS pairs, comma-separated")
    parser.add_argument("--batch-size", type=int, default=16, help="the paper's MNIST batch")
    parser.add_argument("--runs", default="runs/table", help="parent of the run directories")
    args = parser.parse_args()
    rows = []
    for pair in args.models.split(","):
        preset, steps = pair.split("=")
        out = Path(args.runs) / preset
        start = time.perf_counter()
        genvid(
            "train", preset, "--steps", steps, "--batch-size", str(args.batch_size),
            "--optimizer", "adam", "--lr", "1e-3", "--precision", "bf16",
            "--lr-schedule", "cosine", "--log-every", "100",
            "--checkpoint-every", steps, "--out", str(out),
        )  # fmt: skip
        minutes = (time.perf_counter() - start) / 60
        genvid("eval", str(out))
        report = json.loads((out / "eval.json").read_text())
        rows.append((preset, int(steps), minutes, report))
    print(f"\nbatch {args.batch_size}, bf16 autocast, Adam lr 1e-3, cosine schedule")
    print("| model | steps | train min | test NLL (nats/image) | paper |")
    print("|---|---:|---:|---:|---:|")
    for preset, steps, minutes, report in rows:
        paper = PAPER_NATS.get(preset)
        print(
            f"| {preset} | {steps} | {minutes:.1f} | {report['nll_nats']:.2f} +- "
            f"{report['nll_nats_stderr']:.2f} | {paper if paper is not None else '-'} |"
        )


if __name__ == "__main__":
    main()
