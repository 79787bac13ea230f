"""Run by tests/test_ddp.py under `torchrun`: train a tiny video GAN, alternating critic and
generator steps with every random draw on, in N processes.

Usage: python -m torch.distributed.run --nproc_per_node=N tests/ddp_gan_script.py RUN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tiny_models import ClipStream

from genvid.presets import create, update
from genvid.train import TrainConfig, fit

OVERRIDES = dict(
    hidden_channels=2,
    critic_channels=2,
    z_dim=4,
    rnn_size=8,
    n_critic=2,
    instance_noise=0.1,
    input_noise=0.1,
)
CONFIG = TrainConfig(steps=6, batch_size=4, device="cpu", grad_clip=None, checkpoint_every=3)


def main(run_dir: Path) -> None:
    torch.manual_seed(0)  # the same initial weights in every process and in the reference run
    model = create("videogan-mmnist", **OVERRIDES)
    fit(model, ClipStream(seed=2), CONFIG, run_dir, update=update("videogan-mmnist", **OVERRIDES))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
