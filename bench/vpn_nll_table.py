"""Moving MNIST nats/frame of a VPN and its baseline trained with the same command and budget.

Trains `PRESET` twice with one command shape, `genvid train PRESET [--set baseline=true]
--steps STEPS --batch-size B --precision bf16 --channels-last --compile --lr-schedule cosine
--out RUNS/NAME`: once as the VPN, once as the paper's baseline at the same size (no masked
decoder: each frame depends on earlier frames only). Then `genvid eval RUN --sequences N`
scores frames 11-20 given 1-10 of the first N regenerated test sequences in float32, with the
data's entropy bound on those same sequences. Prints the measured training time beside each
result and the paper's figures (Kalchbrenner et al. 2017, table 1).

    python bench/vpn_nll_table.py --preset vpn-micro --steps 200 --batch-size 4 \\
        --sequences 1000 --runs runs/vpn-table
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PAPER = {"VPN": 87.6, "baseline": 110.1}
PAPER_BOUND = 86.3


def genvid(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "genvid", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vpn-micro", help="the VPN preset (and its size)")
    parser.add_argument("--steps", type=int, required=True, help="updates of each model")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sequences", type=int, default=1000, help="test sequences scored")
    parser.add_argument("--runs", default="runs/vpn-table", help="parent of the run directories")
    args = parser.parse_args()
    rows = []
    for kind, extra in (("VPN", []), ("baseline", ["--set", "baseline=true"])):
        out = Path(args.runs) / f"{args.preset}-{kind.lower()}"
        start = time.perf_counter()
        genvid(
            "train", args.preset, *extra, "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--precision", "bf16", "--channels-last",
            "--compile", "--lr-schedule", "cosine", "--log-every", "10",
            "--checkpoint-every", str(args.steps), "--out", str(out),
        )  # fmt: skip
        minutes = (time.perf_counter() - start) / 60
        start = time.perf_counter()
        genvid("eval", str(out), "--sequences", str(args.sequences))
        eval_minutes = (time.perf_counter() - start) / 60
        rows.append((kind, minutes, eval_minutes, json.loads((out / "eval.json").read_text())))
    print(
        f"\n{args.preset} size, {args.steps} steps of batch {args.batch_size}, bf16 autocast, "
        f"Adam lr 1e-3, cosine; first {args.sequences} regenerated test sequences, frames 11-20 "
        "given 1-10, float32\n"
    )
    print("| model | train min | eval min | nats/frame | lower bound | excess | paper |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, minutes, eval_minutes, report in rows:
        print(
            f"| {kind} | {minutes:.1f} | {eval_minutes:.1f} | "
            f"{report['nll_nats_per_frame']:.1f} +- {report['nll_nats_per_frame_stderr']:.1f} | "
            f"{report['lower_bound_nats_per_frame']:.1f} | {report['excess_nats_per_frame']:.1f} "
            f"+- {report['excess_stderr']:.1f} | {PAPER[kind]} (bound {PAPER_BOUND}) |"
        )


if __name__ == "__main__":
    main()
