"""SVG on the CPU: training sequences/s of each variant, fp32 and bf16, and the batched frame
networks against a per-frame loop of the same model.

Table 1: sequences/s of a training step (the step `fit` runs, with Adam) of `svg-lp-smmnist`,
`svg-fp-smmnist` and `svg-det-smmnist` at the paper's size (DCGAN-64, g 128, LSTMs 256),
batch 16 of 15-frame Stochastic Moving MNIST sequences (5 past + 10 future), fp32, bf16
autocast, and bf16 with channels_last weights (`genvid train --precision bf16
--channels-last`).
Table 2: the same SVG-LP step with the encoder and decoder called once per frame (what a
per-frame Python loop does, as the paper's code) against genvid's one call over all frames,
alternating in one run; the ratio is the gain of batching.

    python bench/svg_throughput.py [--steps 4] [--batch 16]
"""

from __future__ import annotations

import argparse

import torch
from steptimer import seconds_per_step

import genvid
from genvid.data import train_stream
from genvid.models.svg import SVG, Unrolled, _stack_in_time

VARIANTS = ["svg-lp-smmnist", "svg-fp-smmnist", "svg-det-smmnist"]


class PerFrameSVG(SVG):
    """The reference form: encoder and decoder run frame by frame inside the time loop."""

    def unroll(self, video, *, generator=None):
        b, frames = video.shape[:2]
        scaled = self._scale(video)
        encoded = [self.encoder(scaled[:, t]) for t in range(frames)]  # T x ((B, g), skips)
        state = self._initial_state(encoded[0][0])
        predicted, posterior, prior = [], [], []
        for t, source in zip(range(1, frames), self._skip_frames(frames), strict=True):
            out, q, p, state = self._step(encoded[t - 1][0], encoded[t][0], state, generator)
            predicted.append(self.decoder(out, encoded[source][1]))  # (B, C, H, W)
            posterior.append(q)
            prior.append(p)
        return Unrolled(
            torch.stack(predicted, dim=1), _stack_in_time(posterior), _stack_in_time(prior)
        )


def rate(
    model: torch.nn.Module,
    batch: torch.Tensor,
    *,
    precision: str,
    steps: int,
    channels_last: bool = False,
) -> float:
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    return len(batch) / seconds_per_step(model, batch, optimiser, steps=steps, precision=precision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per row")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    batch = train_stream("moving-mnist-stochastic", seed=0).batch(0, args.batch)
    print(f"batch {args.batch} x {batch.shape[1]} frames, {torch.get_num_threads()} threads")
    print("| preset | parameters | fp32 seq/s | bf16 seq/s | bf16 channels_last seq/s |")
    print("|---|---:|---:|---:|---:|")
    for preset in VARIANTS:
        rates = []
        for precision, channels_last in (("fp32", False), ("bf16", False), ("bf16", True)):
            torch.manual_seed(0)
            model = genvid.create(preset)
            rates.append(
                rate(
                    model, batch, precision=precision, steps=args.steps, channels_last=channels_last
                )
            )
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"| {preset} | {params:.2f}M | " + " | ".join(f"{r:.2f}" for r in rates) + " |")

    print("\n| svg-lp-smmnist step | fp32 seq/s | bf16 seq/s |")
    print("|---|---:|---:|")
    config = genvid.create("svg-lp-smmnist").config
    rows = {"batched frame networks (genvid)": SVG, "per-frame loop": PerFrameSVG}
    results = {name: {} for name in rows}
    for precision in ("fp32", "bf16"):
        for _ in range(2):  # alternate, so drift of the machine hits both alike
            for name, kind in rows.items():
                torch.manual_seed(0)
                measured = rate(kind(config), batch, precision=precision, steps=args.steps)
                results[name][precision] = max(results[name].get(precision, 0.0), measured)
    for name, by_precision in results.items():
        print(f"| {name} | {by_precision['fp32']:.2f} | {by_precision['bf16']:.2f} |")
    batched, loop = results.values()
    print(
        f"| ratio | {batched['fp32'] / loop['fp32']:.2f}x | {batched['bf16'] / loop['bf16']:.2f}x |"
    )


if __name__ == "__main__":
    main()
