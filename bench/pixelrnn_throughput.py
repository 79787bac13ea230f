"""PixelRNN on the CPU: training throughput at the MNIST presets, and the vectorised
recurrences against a pixel-by-pixel loop.

Table 1: images/s of a training step (the step `fit` runs, with Adam) of each model at its
MNIST preset (binary 28x28, batch 16 as in the paper), fp32 and bf16 autocast; PixelCNN for
comparison.
Table 2: one recurrent layer at the MNIST size (2h = 32 maps in, h = 16), forward only: the
vectorised layer (Row LSTM: one step per row; Diagonal BiLSTM: one step per diagonal of the
skewed map) against the same layer computed one pixel at a time (the layers' steppers, which
the cached sampler uses; equal to the vectorised layer, tests/test_recurrent.py).

    python bench/pixelrnn_throughput.py [--steps 5] [--batch 16] [--size 28]
"""

from __future__ import annotations

import argparse
import time

import torch
from steptimer import seconds_per_step

import genvid
from genvid.autoregressive.sampling import RasterCache
from genvid.nn.recurrent import DiagonalBiLSTM, RowLSTM

PRESETS = ["row-lstm-mnist", "diagonal-bilstm-mnist", "multiscale-pixelrnn-mnist", "pixelcnn-mnist"]


def training_rate(preset: str, *, precision: str, steps: int, batch: int, size: int) -> tuple:
    torch.manual_seed(0)
    model = genvid.create(preset)
    x = (torch.rand(batch, 1, size, size) < 0.3).to(torch.uint8)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    seconds = seconds_per_step(model, x, optimiser, steps=steps, precision=precision)
    return batch / seconds, sum(p.numel() for p in model.parameters())


@torch.no_grad()
def layer_rates(layer: torch.nn.Module, *, steps: int, batch: int, size: int) -> tuple:
    x = torch.randn(batch, layer.input_to_state.weight.shape[1], size, size)
    layer(x)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        layer(x)
    vectorised = batch * steps / (time.perf_counter() - start)
    start = time.perf_counter()
    # the cached sampler's buffers (margin 1: the Row LSTM's 3-wide reach, 0 for the BiLSTM's)
    cache = RasterCache(batch, (size, size), 1, margin=1, scale=lambda v: v.float(), like=x)
    stepper = layer.stepper(cache)
    for i in range(size):
        for j in range(size):
            stepper.step(i, j, x[:, :, i, j])
    loop = batch / (time.perf_counter() - start)
    return vectorised, loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per row")
    parser.add_argument("--batch", type=int, default=16, help="images per step")
    parser.add_argument("--size", type=int, default=28, help="image height and width")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    args = parser.parse_args()
    shape = f"batch {args.batch}, {args.size}x{args.size}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {shape}")
    print("| preset | params | precision | train images/s | vs fp32 |")
    print("|---|---:|---|---:|---:|")
    for preset in args.presets.split(","):
        base = None
        for precision in ("fp32", "bf16"):
            rate, params = training_rate(
                preset, precision=precision, steps=args.steps, batch=args.batch, size=args.size
            )
            base = base or rate
            print(
                f"| {preset} | {params / 1e6:.3f}M | {precision} | {rate:.1f} | "
                f"{rate / base:.2f}x |",
                flush=True,
            )
    print()
    print("| layer (forward, fp32) | vectorised images/s | pixel loop images/s | speed-up |")
    print("|---|---:|---:|---:|")
    torch.manual_seed(0)
    for name, layer in (("Row LSTM", RowLSTM(32, 16)), ("Diagonal BiLSTM", DiagonalBiLSTM(32, 16))):
        vectorised, loop = layer_rates(layer, steps=args.steps, batch=args.batch, size=args.size)
        print(f"| {name} | {vectorised:.1f} | {loop:.1f} | {vectorised / loop:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
