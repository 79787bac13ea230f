"""PixelCNN training throughput: genvid against pytorch-generative's PixelCNN, on this CPU.

The other code is github.com/EugenHotaj/pytorch-generative, read from a checkout given by
`--pg-repo` (a directory holding pytorch_generative/models/autoregressive/pixel_cnn.py; nothing
of it is copied here). Its model is `PixelCNN` of that file at its constructor's defaults
(in_channels 1, out_channels 1, n_residual 15, residual_channels 128, head_channels 32): a 7x7
`CausalConv2d` with mask_center=True, 15 `CausalResidualBlock`s (ReLU, 1x1 2R -> R, ReLU, 3x3
causal R -> R, ReLU, 1x1 R -> 2R) on a residual stream of 2R = 256 maps, and the head ReLU,
1x1 256 -> 32, ReLU, 1x1 32 -> 1. Its step is `Trainer._train_one_batch` of
pytorch_generative/trainer.py, restated line for line as `reproduce()` of pixel_cnn.py sets it
up: model.train(), zero_grad, forward, `loss_fn` (binary cross-entropy with logits summed over
the 784 pixels, averaged over the batch: nats per image), backward, `clip_grad_norm_` at 1e50
(the Trainer always takes the norm, for its log), one Adam (lr 1e-3), its MultiplicativeLR
step, `.item()` of the loss and the norm. Its input is what `get_mnist_loaders(...,
dynamically_binarize=True)` yields: float {0, 1} images [64, 1, 28, 28]. Its bf16 way runs the
forward and the loss under CPU bf16 autocast (the original has none), as genvid's step does.

Import, not a shim: the checkout's pytorch_generative/__init__.py imports datasets.py
(torchvision, scikit-learn) and trainer.py (tensorboard), and models/__init__.py imports every
model, so neither of these two `__init__`s is run: empty stand-in packages named
`pytorch_generative` and `pytorch_generative.models` whose `__path__` points into the checkout
are put in `sys.modules`, and pixel_cnn.py is imported from there with what it imports, i.e.
pytorch_generative/nn (its real `__init__`: torch and numpy) and models/base.py. None of their
code is changed.

genvid: `genvid.create("pixelcnn-mnist", hidden_channels=128, num_layers=15,
output_channels=32)`, the same size (`--residual-channels R` sets pytorch-generative's
residual_channels and genvid's hidden_channels to R together; both residual streams carry 2R
maps). The `64 x 15` of bench/pixelcnn_throughput.py and BENCHMARKS.md is R = 64, a 128-map
stream: pytorch-generative's default of 128 is its 3x3 width, its stream carries 256 maps
(`--residual-channels 64` runs that size; its MNIST `reproduce()` trains R = 16). Stepped by
`steptimer.seconds_per_step`, i.e. `genvid.train.train_step` as `fit` runs it (one Adam, lr
1e-3, with the non-finite guard and gradient clipping at 1.0), in four ways: fp32; fp32 with
the model and the batch channels_last (as pixelcnn_throughput.py does); bf16 autocast; bf16
channels_last. Its input: the uint8 {0, 1} batch, which it scales to [-1, 1].

Parameters: the layers are the same, one for one, but pytorch-generative stores full 7x7 and
3x3 kernels and multiplies them by their masks (in place, every forward), while genvid stores
them cropped to the rows a causal mask can leave non-zero (4 x 7 and 2 x 3). At R = 128 that
is 3,223,617 against 2,480,961 parameters: 256 x 21 + 15 x 128 x 128 x 3 = 742,656 stored
zeros, the whole difference. For the same reason the GFLOP column (`torch.utils.flop_counter`,
the convolutions of one step's forward + backward, per image) counts pytorch-generative's
masked zeros: it is the work each code does, not the model's. Also different, in the output
values and not the work: pytorch-generative's `PixelCNN.forward` adds each block's input again
to the block's output, which already holds it (`x = x + layer(x)`, the block returning `x +
self._net(x)`), so its stream is 2x + f(x) per block; genvid's is x + f(x). The stream
grows about 2^15-fold over the 15 blocks, and the logits at initialisation with it: its first
loss is about 1.07e5 nats per image on this batch, genvid's 513 (a fair coin per pixel: 784
ln 2 = 543). The losses are defined alike (nats per image, mean over the batch); only the
initial values differ.

Both models read the same batch, `train_stream("binarized-mnist", seed=0).batch(0, 64)`. Each
way takes one step under the FLOP counter (its loss, nats per image on the same batch, is
printed with the gradient norm), then one warm-up step, then `--rounds` rounds of `--steps`
timed steps, the six ways alternating within each round so that the machine's drift hits all
alike. Images/s per round, their median, and the ratio to pytorch-generative fp32's median.

    python bench/pixelcnn_vs_pytorch_generative.py --pg-repo PATH [--rounds 4] [--steps 3]
    python bench/pixelcnn_vs_pytorch_generative.py --pg-repo PATH --rounds 1 --steps 1  # smoke
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from types import ModuleType

import torch
from peak_fraction import cpu_name
from sidebyside import Way, genvid_ways, measure, print_tables
from torch import optim
from torch.nn import functional as F
from torch.nn import utils
from torch.optim import lr_scheduler

import genvid
from genvid.data import train_stream

PRESET = "pixelcnn-mnist"
# pixel_cnn.py's PixelCNN defaults; reproduce()'s optimiser and schedule
IN_CHANNELS, OUT_CHANNELS, N_RESIDUAL, RESIDUAL_CHANNELS, HEAD_CHANNELS = 1, 1, 15, 128, 32
LR, LR_DECAY, MAX_NORM = 1e-3, 0.999977, 1e50
PG_WAYS = {  # name: precision
    "pytorch-generative fp32": "fp32",
    "pytorch-generative bf16 autocast": "bf16",
}


def load_pixel_cnn(pg_repo: Path) -> ModuleType:
    """pixel_cnn.py of the checkout, its two package `__init__`s not run (module docstring)."""
    root = pg_repo / "pytorch_generative"
    if not (root / "models" / "autoregressive" / "pixel_cnn.py").is_file():
        raise SystemExit(
            f"--pg-repo: no {root}/models/autoregressive/pixel_cnn.py "
            "(want a checkout of github.com/EugenHotaj/pytorch-generative)"
        )
    for name, path in (
        ("pytorch_generative", root),
        ("pytorch_generative.models", root / "models"),
    ):
        package = ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    sys.modules["pytorch_generative"].models = sys.modules["pytorch_generative.models"]
    return importlib.import_module("pytorch_generative.models.autoregressive.pixel_cnn")


def loss_fn(x, _, preds):
    """reproduce()'s loss: BCE with logits summed over the pixels, mean over the batch."""
    batch_size = x.shape[0]
    x, preds = x.view((batch_size, -1)), preds.view((batch_size, -1))
    loss = F.binary_cross_entropy_with_logits(preds, x, reduction="none")
    return loss.sum(dim=1).mean()


class PytorchGenerative:
    """pytorch-generative's PixelCNN, reproduce()'s Adam and schedule, the Trainer's step."""

    def __init__(self, pixel_cnn: ModuleType, residual_channels: int, precision: str) -> None:
        self.model = pixel_cnn.PixelCNN(
            in_channels=IN_CHANNELS,
            out_channels=OUT_CHANNELS,
            n_residual=N_RESIDUAL,
            residual_channels=residual_channels,
            head_channels=HEAD_CHANNELS,
        )
        self.optimizer = optim.Adam(self.model.parameters(), lr=LR)
        self.lr_scheduler = lr_scheduler.MultiplicativeLR(
            self.optimizer, lr_lambda=lambda _: LR_DECAY
        )
        self.precision = precision

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def train_one_batch(self, x: torch.Tensor) -> dict[str, float]:
        """Trainer._train_one_batch (CPU, no labels, no skip_grad_norm), bf16 autocast around
        the forward and the loss in the bf16 way."""
        self.model.train()
        self.optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            preds = self.model(x)
            metrics = {"loss": loss_fn(x, None, preds)}
        metrics["loss"].backward()

        norm = utils.clip_grad_norm_(self.model.parameters(), MAX_NORM)
        metrics["grad_norm"] = norm

        self.optimizer.step()
        self.lr_scheduler.step()

        return {k: v.item() for k, v in metrics.items()}


def pg_way(
    name: str, precision: str, pixel_cnn: ModuleType, residual_channels: int, batch: torch.Tensor
) -> Way:
    torch.manual_seed(0)
    pg = PytorchGenerative(pixel_cnn, residual_channels, precision)
    x = batch.float()  # get_mnist_loaders(dynamically_binarize=True): float {0, 1}

    def timed(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            pg.train_one_batch(x)
        return (time.perf_counter() - start) / steps

    return Way(name, pg.parameters(), lambda: pg.train_one_batch(x), timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-repo",
        type=Path,
        required=True,
        help="checkout of github.com/EugenHotaj/pytorch-generative",
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the six ways")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per way and round")
    parser.add_argument("--batch", type=int, default=64, help="images per step")
    parser.add_argument(
        "--residual-channels",
        type=int,
        default=RESIDUAL_CHANNELS,
        help="pytorch-generative's residual_channels = genvid's hidden_channels (stream: twice)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be >= 1")

    width = args.residual_channels
    batch = train_stream("binarized-mnist", seed=0).batch(0, args.batch)
    pixel_cnn = load_pixel_cnn(args.pg_repo)
    ways = [pg_way(name, how, pixel_cnn, width, batch) for name, how in PG_WAYS.items()]
    ways += genvid_ways(
        lambda: genvid.create(
            PRESET, hidden_channels=width, num_layers=N_RESIDUAL, output_channels=HEAD_CHANNELS
        ),
        batch,
        lr=LR,
    )
    measure(ways, len(batch), rounds=args.rounds, steps=args.steps)

    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(
        f"PixelCNN training step, batch {args.batch} of binarized MNIST 28x28, {N_RESIDUAL} "
        f"residual blocks, residual_channels = hidden_channels = {width} ({2 * width}-map "
        f"stream); {args.rounds} rounds of {args.steps} timed steps, ways alternating\n"
    )
    print_tables(
        ways,
        example="image",
        reference="pytorch-generative fp32",
        scalars={"first step's loss (nats per image)": "loss", "its gradient norm": "grad_norm"},
    )


if __name__ == "__main__":
    main()
