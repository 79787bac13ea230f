"""PixelCNN training throughput on the CPU: genvid's kernels against the naive masked form.

The naive form is what most implementations do: keep the full k x k kernel, multiply it by
its mask in every call, and run in the default NCHW layout. genvid stores only the rows a
causal mask can leave non-zero and keeps activations channels_last.
Prints a table of images/s (the step `fit` runs, with Adam: `bench/steptimer.py`; batch 64,
28x28 binary).

    python bench/pixelcnn_throughput.py [--steps 10] [--sizes 32x7,64x15,128x15]
"""

from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn.functional as F
from steptimer import seconds_per_step

import genvid
from genvid.nn.masked import MaskedConv2d


def naive_forward(self, x):
    pad = self.dilation * (self.kernel_size // 2)
    out = F.conv2d(x, self.full_weight(), self.bias, padding=pad, dilation=self.dilation)
    return out.contiguous()  # NCHW, as an nn.Conv2d-based implementation runs


@contextlib.contextmanager
def naive_masks():
    fast = MaskedConv2d.forward
    MaskedConv2d.forward = naive_forward
    try:
        yield
    finally:
        MaskedConv2d.forward = fast


def images_per_second(hidden, layers, *, precision, channels_last, steps, batch=64):
    torch.manual_seed(0)
    model = genvid.create(
        "pixelcnn-mnist", hidden_channels=hidden, num_layers=layers, output_channels=32
    )
    x = (torch.rand(batch, 1, 28, 28) < 0.3).to(torch.uint8)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    seconds = seconds_per_step(model, x, optimiser, steps=steps, warmup=2, precision=precision)
    return batch / seconds, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    parser.add_argument("--sizes", default="32x7,64x15,128x15", help="h x residual blocks")
    args = parser.parse_args()
    rows = [
        ("naive masks", "fp32", False, True),
        ("genvid", "fp32", False, False),
        ("genvid", "bf16", False, False),
        ("genvid", "bf16", True, False),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 64, 28x28")
    print(
        "| h x blocks | params | form | precision | channels_last weights | images/s | vs naive |"
    )
    print("|---|---:|---|---|---|---:|---:|")
    for size in args.sizes.split(","):
        hidden, layers = map(int, size.split("x"))
        base = None
        for form, precision, channels_last, naive in rows:
            with naive_masks() if naive else contextlib.nullcontext():
                rate, params = images_per_second(
                    hidden,
                    layers,
                    precision=precision,
                    channels_last=channels_last,
                    steps=args.steps,
                )
            base = base or rate
            print(
                f"| {hidden} x {layers} | {params / 1e6:.2f}M | {form} | {precision} | "
                f"{channels_last} | {rate:.1f} | {rate / base:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
