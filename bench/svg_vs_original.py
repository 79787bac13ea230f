"""SVG-LP training throughput: genvid against Denton & Fergus's own PyTorch code, on this CPU.

The original is github.com/edenton/svg, read from a checkout given by `--svg-repo` (a
directory holding models/dcgan_64.py and models/lstm.py; nothing of it is copied here). Its
modules are imported by file path and its step is `train(x)` of train_svg_lp.py, restated line
for line: frame predictor `lstm.lstm` (2 layers), posterior and prior `lstm.gaussian_lstm` (1
layer each), `dcgan_64.encoder` and `dcgan_64.decoder`, weights initialised as its
`utils.init_weights` does (restated: utils.py imports skimage functions that no longer exist),
five Adam optimisers (lr 2e-3, betas (0.9, 0.999)), hidden states reset every step, frames
1..14 each encoded (and its predecessor re-encoded) inside the time loop, MSE + 1e-4 KL,
backward, five optimiser steps. Its input is what its `utils.normalize_data` yields: a list of
15 float frames [16, 1, 64, 64] in [0, 1].

Shim, applied at run time: `init_hidden` of `lstm.lstm` and `lstm.gaussian_lstm` is replaced
by the same zeros without `.cuda()` (the original puts the states on the GPU; here everything
runs on the CPU). `torch.autograd.Variable` is kept: on torch 2.x it returns a plain tensor.

genvid: `genvid.create("svg-lp-smmnist")` (the same size: DCGAN-64 with 64 maps, g 128, z 10,
LSTMs of 256, 5 past + 10 future frames), stepped by `steptimer.seconds_per_step`, i.e.
`genvid.train.train_step` as `fit` runs it (one Adam, lr 2e-3, which also takes the non-finite
guard and gradient clipping at 1.0 that the original does not), in four ways: fp32; fp32 with
the model in channels_last (`genvid train --channels-last`); bf16 autocast; bf16 channels_last.
Both models read the same batch, `train_stream("moving-mnist-stochastic", seed=0).batch(0,
16)`: genvid as uint8 [16, 15, 1, 64, 64], the original as the list of its float frames.

The work differs: genvid encodes each of the 15 frames once per sequence and runs the encoder
and decoder once over all frames; the original encodes 28 frames (each target and, again, its
predecessor) in 14 calls of batch 16 and decodes in 14 calls. The GFLOP column counts each
step's convolutions and matrix products (`torch.utils.flop_counter`, forward + backward of one
step, per sequence).

Each way takes one step under the FLOP counter (its loss, on the same batch, is printed: the
two codes define the loss alike, sum over steps of the per-pixel MSE + 1e-4 x the KL summed
over z and steps, mean over the batch), then one warm-up step, then `--rounds` rounds of
`--steps` timed steps, the five ways alternating within each round so that the machine's drift
hits all alike. Sequences/s per round, their median, and the ratio to the original's median.

    python bench/svg_vs_original.py --svg-repo PATH [--rounds 4] [--steps 3] [--batch 16]
    python bench/svg_vs_original.py --svg-repo PATH --rounds 1 --steps 1  # smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from types import ModuleType

import torch
from peak_fraction import cpu_name
from sidebyside import Way, genvid_ways, measure, print_tables
from torch import nn, optim

import genvid
from genvid.data import train_stream

PRESET = "svg-lp-smmnist"
# train_svg_lp.py's options at the paper's size (its defaults but the batch)
G_DIM, Z_DIM, RNN_SIZE, N_PAST, N_FUTURE, BETA, LR = 128, 10, 256, 5, 10, 1e-4, 2e-3
PREDICTOR_LAYERS, POSTERIOR_LAYERS, PRIOR_LAYERS, CHANNELS = 2, 1, 1, 1


def load_module(path: Path, name: str) -> ModuleType:
    if not path.is_file():
        raise SystemExit(f"--svg-repo: no {path} (want a checkout of github.com/edenton/svg)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_init_hidden(self) -> list:
    """The original's `init_hidden` without `.cuda()`: zero (h, c) of each layer."""
    hidden = []
    for _ in range(self.n_layers):
        hidden.append(
            (
                torch.zeros(self.batch_size, self.hidden_size),
                torch.zeros(self.batch_size, self.hidden_size),
            )
        )
    return hidden


def init_weights(m: nn.Module) -> None:
    """The original's utils.init_weights: N(0, 0.02) conv and linear weights, N(1, 0.02) batch-
    norm scales, zero biases (LSTM cells keep torch's initialisation)."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1 or classname.find("Linear") != -1:
        m.weight.data.normal_(0.0, 0.02)
        m.bias.data.fill_(0)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Original:
    """The original's five networks, their optimisers and `train(x)` of train_svg_lp.py."""

    def __init__(self, svg_repo: Path, batch_size: int) -> None:
        lstm_models = load_module(svg_repo / "models" / "lstm.py", "edenton_svg_lstm")
        model = load_module(svg_repo / "models" / "dcgan_64.py", "edenton_svg_dcgan_64")
        lstm_models.lstm.init_hidden = cpu_init_hidden  # the shim (module docstring)
        lstm_models.gaussian_lstm.init_hidden = cpu_init_hidden
        self.batch_size = batch_size
        self.frame_predictor = lstm_models.lstm(
            G_DIM + Z_DIM, G_DIM, RNN_SIZE, PREDICTOR_LAYERS, batch_size
        )
        self.posterior = lstm_models.gaussian_lstm(
            G_DIM, Z_DIM, RNN_SIZE, POSTERIOR_LAYERS, batch_size
        )
        self.prior = lstm_models.gaussian_lstm(G_DIM, Z_DIM, RNN_SIZE, PRIOR_LAYERS, batch_size)
        self.frame_predictor.apply(init_weights)
        self.posterior.apply(init_weights)
        self.prior.apply(init_weights)
        self.encoder = model.encoder(G_DIM, CHANNELS)
        self.decoder = model.decoder(G_DIM, CHANNELS)
        self.encoder.apply(init_weights)
        self.decoder.apply(init_weights)
        nets = (self.frame_predictor, self.posterior, self.prior, self.encoder, self.decoder)
        self.nets = nets
        self.optimizers = [optim.Adam(net.parameters(), lr=LR, betas=(0.9, 0.999)) for net in nets]
        self.mse_criterion = nn.MSELoss()
        for net in nets:
            net.train()

    def parameters(self) -> int:
        return sum(p.numel() for net in self.nets for p in net.parameters())

    def kl_criterion(self, mu1, logvar1, mu2, logvar2):
        sigma1 = logvar1.mul(0.5).exp()
        sigma2 = logvar2.mul(0.5).exp()
        kld = (
            torch.log(sigma2 / sigma1)
            + (torch.exp(logvar1) + (mu1 - mu2) ** 2) / (2 * torch.exp(logvar2))
            - 1 / 2
        )
        return kld.sum() / self.batch_size

    def train(self, x: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """train_svg_lp.py's `train(x)` (last_frame_skip off); returns the summed mse and kld
        (the original returns them per frame, as numpy) and the loss."""
        frame_predictor, posterior, prior = self.frame_predictor, self.posterior, self.prior
        encoder, decoder = self.encoder, self.decoder
        frame_predictor.zero_grad()
        posterior.zero_grad()
        prior.zero_grad()
        encoder.zero_grad()
        decoder.zero_grad()

        # initialize the hidden state.
        frame_predictor.hidden = frame_predictor.init_hidden()
        posterior.hidden = posterior.init_hidden()
        prior.hidden = prior.init_hidden()

        mse = 0
        kld = 0
        for i in range(1, N_PAST + N_FUTURE):
            h = encoder(x[i - 1])
            h_target = encoder(x[i])[0]
            if i < N_PAST:
                h, skip = h
            else:
                h = h[0]
            z_t, mu, logvar = posterior(h_target)
            _, mu_p, logvar_p = prior(h)
            h_pred = frame_predictor(torch.cat([h, z_t], 1))
            x_pred = decoder([h_pred, skip])
            mse += self.mse_criterion(x_pred, x[i])
            kld += self.kl_criterion(mu, logvar, mu_p, logvar_p)

        loss = mse + kld * BETA
        loss.backward()

        for optimizer in self.optimizers:  # predictor, posterior, prior, encoder, decoder
            optimizer.step()

        return {"loss": loss.detach(), "mse": mse.detach(), "kl": kld.detach()}


def original_way(svg_repo: Path, batch: torch.Tensor) -> Way:
    torch.manual_seed(0)
    original = Original(svg_repo, len(batch))
    # utils.normalize_data: [B, T, ...] -> T frames [B, C, H, W], float in [0, 1]
    x = list((batch.float() / 255).transpose(0, 1))

    def timed(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            original.train(x)
        return (time.perf_counter() - start) / steps

    return Way(
        "original (edenton/svg) fp32", original.parameters(), lambda: original.train(x), timed
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--svg-repo", type=Path, required=True, help="checkout of github.com/edenton/svg"
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the five ways")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per way and round")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be >= 1")

    batch = train_stream("moving-mnist-stochastic", seed=0).batch(0, args.batch)
    ways = [original_way(args.svg_repo, batch)]
    ways += genvid_ways(lambda: genvid.create(PRESET), batch, lr=LR)
    measure(ways, len(batch), rounds=args.rounds, steps=args.steps)

    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(
        f"SVG-LP training step, batch {args.batch} x {batch.shape[1]} frames of Stochastic "
        f"Moving MNIST; {args.rounds} rounds of {args.steps} timed steps, ways alternating\n"
    )
    print_tables(
        ways,
        example="sequence",
        reference="the original",
        scalars={"first step's loss": "loss", "its mse": "mse", "its kl": "kl"},
    )


if __name__ == "__main__":
    main()
