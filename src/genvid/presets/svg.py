"""SVG presets (Denton & Fergus 2018, arXiv 1802.07687): learned prior, fixed prior and the
deterministic baseline on both Stochastic Moving MNISTs (SVG's own generator and SRVP's, the
set of the later papers' figures) and on a user's colour videos."""

from __future__ import annotations

from typing import Any

from genvid.models.svg import SVG, SVGConfig
from genvid.presets.base import Preset
from genvid.protocols import FramePrediction, Protocol

# SRVP's Stochastic Moving MNIST test set, 5 -> 20 frames, best of 100 (SLAMP, Akan et al.
# 2021, table 4, from SRVP's evaluation code): printed beside evaluations on that set only.
SMMNIST_PAPER = {
    "SVG-LP (SLAMP table 4)": {"psnr": 14.50, "ssim": 0.7090},
    "SRVP (SLAMP table 4)": {"psnr": 16.93, "ssim": 0.7799},
    "SLAMP (SLAMP table 4)": {"psnr": 18.07, "ssim": 0.7736},
}
SMMNIST = dict(channels=1, g_dim=128, z_dim=10, beta=1e-4, context_frames=5, future_frames=10)
# A user's own 3-channel 64x64 clips of 20 frames: BAIR's settings in the paper's code (z 64,
# beta 1e-4, 2 past), trained on whole clips (18 future frames; BAIR's evaluation predicts 28).
VGG = dict(channels=3, g_dim=128, z_dim=64, beta=1e-4, context_frames=2, future_frames=18)
# SVG's training recipe: the defaults of edenton/svg's train_svg_lp.py / train_svg_fp.py (Adam,
# lr 0.002, beta1 0.9 = torch's default betas, batch 100, no clipping, constant lr). The frame
# networks run channels_last: the same numbers up to rounding, 1.12x the fp32 steps per second
# on an AMD EPYC (BENCHMARKS, "SVG against the original code").
SVG_TRAIN = dict(
    lr=2e-3, batch_size=100, grad_clip=None, lr_schedule="constant", channels_last=True
)
SVG_RECIPE = "SVG's code: edenton/svg train_svg_lp.py's defaults (Adam beta1 0.9)"
# The CPU size: the paper's networks at half the frame networks' width (5.4M parameters for
# SVG-LP, 3.6x the paper's training sequences per second on one core), trained at batch 16
# with the paper's Adam at half its lr, decayed by a cosine over 16,000 steps (about 4
# core-hours of bf16 on one AMD EPYC core, 256,000 sequences: 4 % of the paper's budget).
SMMNIST_SMALL = dict(SMMNIST, hidden_channels=32)
CPU_TRAIN = dict(
    SVG_TRAIN,
    lr=1e-3,
    batch_size=16,
    lr_schedule="cosine",
    warmup_steps=200,
    precision="bf16",
    steps=16_000,
)
CPU_RECIPE = (
    "SVG's Adam at batch 16 and half its lr, cosine decay, bf16: a 4-core-hour CPU budget "
    "(genvid's choice; no sweep yet)"
)
TINY = dict(hidden_channels=2, g_dim=4, z_dim=2, rnn_size=4)  # what the tests build


def svg_config(variant: str, backbone: str, **fields: Any) -> SVGConfig:
    return SVGConfig(variant=variant, backbone=backbone, **fields)


def frame_prediction(predicted: int, paper: dict | None = None, paper_data: str = ""):
    """Best of 100 SSIM/PSNR after the config's context frames; one sample if deterministic.
    `paper` figures are printed beside evaluations on `paper_data` only."""

    def protocol(config: SVGConfig) -> Protocol:
        stochastic = config.variant != "deterministic"
        return FramePrediction(
            context=config.context_frames,
            predicted=predicted,
            stochastic=stochastic,
            paper=paper,
            paper_data=paper_data,
        )

    return protocol


VARIANTS = (  # name part, SVGConfig.variant, what the description calls it
    ("lp", "lp", "learned prior"),
    ("fp", "fp", "fixed prior"),
    ("det", "deterministic", "deterministic baseline"),
)


def _variants(
    suffix: str,
    backbone: str,
    fields: dict,
    data: str,
    about: str,
    protocol,
    train: dict = SVG_TRAIN,
    recipe: str = SVG_RECIPE,
):
    """The three variants of one setting: `svg-{lp,fp,det}-SUFFIX`."""
    return tuple(
        Preset(
            f"svg-{short}-{suffix}",
            SVG,
            svg_config(variant, backbone, **fields),
            data,
            f"SVG {title} {about}",
            protocol,
            train=train,
            recipe=recipe,
            tiny=TINY,
        )
        for short, variant, title in VARIANTS
    )


PRESETS = (
    *_variants(
        "smmnist",
        "dcgan",
        SMMNIST,
        "moving-mnist-stochastic",
        "for Stochastic Moving MNIST as SVG's code makes it (DCGAN-64, g 128, z 10, beta 1e-4, "
        "5 past, 10 future; eval: 20 predicted, best of 100; no published numbers on this set)",
        frame_prediction(20),
    ),
    *_variants(
        "srvp",
        "dcgan",
        SMMNIST,
        "moving-mnist-srvp",
        "for SRVP's Stochastic Moving MNIST, the set of the later papers' figures (DCGAN-64, "
        "g 128, z 10, beta 1e-4, 5 past, 10 future; eval: SRVP's test set, 20 predicted, best "
        "of 100)",
        frame_prediction(20, SMMNIST_PAPER, "moving-mnist-srvp"),
    ),
    *_variants(
        "srvp-small",
        "dcgan",
        SMMNIST_SMALL,
        "moving-mnist-srvp",
        "for SRVP's Stochastic Moving MNIST at a CPU's size (DCGAN-64 at half width: 32 maps "
        "first; g 128, z 10, LSTMs 256, beta 1e-4, 5 past, 10 future; eval as svg-*-srvp)",
        frame_prediction(20, SMMNIST_PAPER, "moving-mnist-srvp"),
        train=CPU_TRAIN,
        recipe=CPU_RECIPE,
    ),
    *_variants(
        "vgg64",
        "vgg",
        VGG,
        "video-folder",
        "for your 64x64 colour videos (--data video-folder --root DIR; VGG-64, z 64, 2 past, "
        "18 future)",
        frame_prediction(18),
    ),
)
