"""Exact raster sampling on this machine: naive, cached and compiled-cached, beside the floor.

Every sampler draws the same values from the same generator (tests/test_raster_cache.py).
- naive: the whole network once per drawn value (H * W * C passes). Its cost per value is
  constant, so it is measured on `--naive-values` passes of the network and scaled; the
  table says so.
- cached: each layer computed at the new pixels only
  (`genvid.autoregressive.sampling.RasterCache`); for PixelCNN and the VPN a wavefront of
  pixels per step (`sample_wavefront`), for the PixelRNNs one pixel at a time.
- compiled: the wavefront step through `torch.compile` (one graph for every step and frame);
  its one-off compilation is timed apart. The PixelRNNs' steppers keep Python state per row
  and are not compiled.
- VPN frames at batch 1 are timed three times and the median kept (the others once).
- floor: one full forward pass of the model on the same batch (a frame, for the VPN: the
  encoder and ConvLSTM on the frame before it and the decoder on it). No exact sampler of a
  raster model can do less arithmetic than that.

Image models draw `batch` 28x28 binary images; VPNs draw one 64x64 frame after one context
frame (the frame cost does not depend on the context's length: the encoder and ConvLSTM run
once per frame). float32, random weights (speed does not depend on them).

    python bench/raster_sampling.py [--rows pixelcnn,row,diagonal,vpn-micro,vpn-full]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch

import genvid

# Compilation timed cold: inductor's on-disk cache would make a second process's far shorter.
torch._inductor.config.force_disable_caches = True
warnings.filterwarnings("ignore", message="dynamo_pgo force disabled")

ROWS = {  # name: (preset, batch, size)
    "pixelcnn": ("pixelcnn-mnist", 16, 28),
    "row": ("row-lstm-mnist", 16, 28),
    "diagonal": ("diagonal-bilstm-mnist", 16, 28),
    "vpn-micro-1": ("vpn-micro", 1, 64),
    "vpn-micro-16": ("vpn-micro", 16, 64),
    "vpn-full-1": ("vpn-full", 1, 64),
    "vpn-full-16": ("vpn-full", 16, 64),
}


def seconds(run: Callable[[], object], repeats: int = 1) -> float:
    """Median wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def image_row(preset: str, batch: int, size: int, naive_values: int) -> dict:
    torch.manual_seed(0)
    model = genvid.create(preset).eval()
    x = torch.randint(0, 2, (batch, 1, size, size), dtype=torch.uint8)
    values = size * size * model.config.channels

    def draw(**kw):
        return model.sample(batch, (size, size), generator=torch.Generator().manual_seed(0), **kw)

    with torch.no_grad():
        model.params(x)  # warm-up
        floor = seconds(lambda: model.params(x), 3)
        naive = seconds(lambda: [model.params(x) for _ in range(naive_values)]) / naive_values
        cached = seconds(lambda: draw())
        compiled = compile_s = None
        if preset == "pixelcnn-mnist":
            torch._dynamo.reset()
            compile_s = seconds(lambda: draw(compiled=True))
            compiled = seconds(lambda: draw(compiled=True))
            compile_s -= compiled
    return dict(
        floor=floor, naive=naive * values, cached=cached, compiled=compiled, compile_s=compile_s
    )


def vpn_row(preset: str, batch: int, size: int, naive_values: int) -> dict:
    torch.manual_seed(0)
    model = genvid.create(preset).eval()
    video = torch.randint(0, 2, (batch, 2, 1, size, size), dtype=torch.uint8)
    context, frame = video[:, :1], video[:, 1:]
    lstm_out = torch.randn(batch, model.config.lstm_channels, size, size)

    def draw(**kw):
        generator = torch.Generator().manual_seed(0)
        return model.sample(context=context, steps=1, generator=generator, **kw)

    with torch.no_grad():
        model.params(frame, context)  # warm-up
        floor = seconds(lambda: model.params(frame, context), 3)
        model.decode(lstm_out, frame[:, 0])
        naive = seconds(lambda: [model.decode(lstm_out, frame[:, 0]) for _ in range(naive_values)])
        repeats = 3 if batch == 1 else 1  # batch-1 frames are cheap, and this VM is noisy
        cached = seconds(lambda: draw(), repeats)
        torch._dynamo.reset()
        compile_s = seconds(lambda: draw(compiled=True))
        compiled = seconds(lambda: draw(compiled=True), repeats)
    return dict(
        floor=floor,
        naive=naive / naive_values * size * size,
        cached=cached,
        compiled=compiled,
        compile_s=compile_s - compiled,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"of {', '.join(ROWS)}")
    parser.add_argument("--naive-values", type=int, default=4, help="naive passes timed")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32")
    print(f"naive: {args.naive_values} passes timed and scaled to every value of the images")
    print(
        "| model | batch | floor s | naive s | cached s | compiled s (compile s) "
        "| cached vs naive | compiled vs naive | best vs floor |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.rows.split(","):
        preset, batch, size = ROWS[name]
        row = (vpn_row if preset.startswith("vpn") else image_row)(
            preset, batch, size, args.naive_values
        )
        best = min(t for t in (row["cached"], row["compiled"]) if t is not None)
        compiled = (
            "-" if row["compiled"] is None else f"{row['compiled']:.2f} ({row['compile_s']:.0f})"
        )
        speedup = "-" if row["compiled"] is None else f"{row['naive'] / row['compiled']:.0f}x"
        print(
            f"| {preset} {size}x{size} | {batch} | {row['floor']:.3f} | {row['naive']:.0f} | "
            f"{row['cached']:.2f} | {compiled} | {row['naive'] / row['cached']:.0f}x | "
            f"{speedup} | {best / row['floor']:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
