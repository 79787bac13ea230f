"""PixelCNN sampling time on the CPU: the cached sampler against the naive reference.

Both draw the same images from the same generator (tests/test_pixelcnn.py checks it); the
naive one recomputes the whole network for every pixel, the cached one each layer at the new
pixel only. Prints seconds to draw 16 28x28 binary images, float32.

    python bench/pixelcnn_sampling.py [--sizes 32x7,64x15] [--count 16]
"""

from __future__ import annotations

import argparse
import time

import torch

import genvid


def seconds_to_sample(model, count: int, *, fast: bool) -> float:
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    model.sample(count, (28, 28), generator=generator, fast=fast)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="32x7,64x15", help="h x residual blocks, comma-separated"
    )
    parser.add_argument("--count", type=int, default=16, help="images per draw")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.count} images 28x28"
    )
    print("| h x blocks | naive s | cached s | speed-up |")
    print("|---|---:|---:|---:|")
    for size in args.sizes.split(","):
        hidden, layers = map(int, size.split("x"))
        torch.manual_seed(0)
        model = genvid.create("pixelcnn-mnist", hidden_channels=hidden, num_layers=layers)
        seconds_to_sample(model, args.count, fast=True)  # warm-up
        cached = seconds_to_sample(model, args.count, fast=True)
        naive = seconds_to_sample(model, args.count, fast=False)
        print(
            f"| {hidden} x {layers} | {naive:.2f} | {cached:.2f} | {naive / cached:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
