"""How far a trained WGAN-GP critic is from 1-Lipschitz, and why its scores run to hundreds.

WGAN-GP (Gulrajani et al. 2017) penalises (||grad_x D(x)|| - 1)^2 at points between real and
fake clips; the penalty is soft, so the critic's slope there is whatever balances it against
the Wasserstein term. This prints the input-gradient norms of the critic of RUN at real, fake
and interpolated clips, its Wasserstein estimate E D(real) - E D(fake), and the mean L2
distance between the real and fake clips of a pair: a 1-Lipschitz critic cannot score a real
clip and a fake one further apart than their distance, so that distance (hundreds, for
16x64x64 clips in [-1, 1]) sets the scale of the critic's loss. float32, on the CPU.

    python bench/critic_lipschitz.py RUN [RUN ...] [--clips 32]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genvid import data as gdata
from genvid import runs


def gradient_norms(critic: torch.nn.Module, clips: torch.Tensor) -> torch.Tensor:
    clips = clips.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(clips).sum(), clips)
    return grad.flatten(1).norm(dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--clips", type=int, default=32, help="real and fake clips each")
    args = parser.parse_args()
    print(
        "| run | step | grad norm real | fake | interpolated (max) | W estimate | "
        "mean L2 real-fake | W / L2 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run_dir in args.runs:
        model, run, step = runs.load_run_model(run_dir, torch.device("cpu"))
        frames = model.config.frames
        videos = gdata.eval_set(run.data.name, "test", limit=args.clips)
        real = videos[:, :frames].transpose(1, 2).float() / 127.5 - 1.0  # critic layout
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            z = torch.randn(args.clips, model.config.z_dim, generator=generator)
            fake = model.generate_clips(z)
        eps = torch.rand(args.clips, 1, 1, 1, 1, generator=generator)
        between = eps * real + (1 - eps) * fake
        norms = {
            name: gradient_norms(model.critic, clips)
            for name, clips in (("real", real), ("fake", fake), ("between", between))
        }
        with torch.no_grad():
            w = (model.critic(real).mean() - model.critic(fake).mean()).item()
        distance = (real - fake).flatten(1).norm(dim=1).mean().item()
        print(
            f"| {run_dir} | {step} | {norms['real'].mean():.2f} | {norms['fake'].mean():.2f} | "
            f"{norms['between'].mean():.2f} ({norms['between'].max():.2f}) | {w:.1f} | "
            f"{distance:.1f} | {w / distance:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
