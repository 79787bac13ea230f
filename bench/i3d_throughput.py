"""I3D feature extraction for FVD on the CPU: clips/s, fp32 and bf16 autocast.

Clips are 16-frame 64x64 uint8 RGB (FVD's length), resized to 224x224 by `genvid.frechet`, at
batch sizes 4 and 8. The bf16 column's neighbour is the largest change of a logit against
fp32 on the same clips, for judging whether bf16 features are good enough for a reported FVD.

    python bench/i3d_throughput.py [--clips 8]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import torch

from genvid.frechet import i3d_features, load_i3d_weights

FRAMES, SIZE = 16, 64
BATCH_SIZES = (4, 8)


def cpu_name() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lines = ""
    for line in lines.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def timed_features(
    clips: torch.Tensor, model: torch.nn.Module, *, batch_size: int, bf16: bool
) -> tuple[float, torch.Tensor]:
    """(clips/s, features) of one pass over `clips`, after one warm-up batch."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        i3d_features(clips[:batch_size], model, batch_size=batch_size)  # warm-up
        start = time.perf_counter()
        features = i3d_features(clips, model, batch_size=batch_size)
    return len(clips) / (time.perf_counter() - start), features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="clips timed per row")
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (args.clips, FRAMES, 3, SIZE, SIZE), generator=generator)
    clips = clips.to(torch.uint8)
    model = load_i3d_weights()
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{args.clips} clips of {FRAMES}x3x{SIZE}x{SIZE} uint8, resized to 224x224\n")
    print("| batch | fp32 clips/s | bf16 clips/s | bf16 max abs logit change |")
    print("|---:|---:|---:|---:|")
    for batch_size in BATCH_SIZES:
        fp32_rate, fp32 = timed_features(clips, model, batch_size=batch_size, bf16=False)
        bf16_rate, bf16 = timed_features(clips, model, batch_size=batch_size, bf16=True)
        change = (bf16 - fp32).abs().max().item()
        print(f"| {batch_size} | {fp32_rate:.2f} | {bf16_rate:.2f} | {change:.3f} |")


if __name__ == "__main__":
    main()
