"""Named model configurations: the papers' sizes, and what `genvid.create` builds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from genvid.models.multiscale import MultiScalePixelRNN, MultiScalePixelRNNConfig
from genvid.models.pixelcnn import PixelCNN, PixelCNNConfig
from genvid.models.pixelrnn import PixelRNN, PixelRNNConfig
from genvid.models.svg import SVG, SVGConfig
from genvid.models.videogan import VideoGAN, VideoGANConfig
from genvid.models.vpn import VideoPixelNetwork, VPNConfig
from genvid.protocols import FramePrediction, ImageNLL, Protocol, VideoFVD, VideoNLL
from genvid.train.adversarial import (
    AdversarialUpdate,
    CriticSchedule,
    GroupRecipe,
    ThresholdSchedule,
)
from genvid.train.config import TrainConfig
from genvid.train.update import LikelihoodUpdate, Update

GENVID_RECIPE = "genvid's defaults: no paper trained this configuration"
_VPN_RECIPE = (
    "genvid's defaults: the VPN paper's recipe could not be confirmed (recalled: RMSProp, "
    "lr 3e-4, batch 64)"
)


@dataclass(frozen=True)
class Preset:
    name: str
    build: Callable[[Any], nn.Module]  # config -> model
    config: Any  # a frozen config dataclass instance
    data: str  # default training data set (a `genvid.data` registry name)
    description: str
    protocol: Callable[[Any], Protocol]  # config (with overrides) -> how runs are evaluated
    # config -> what one training step does (default: the likelihood step, one optimiser)
    update: Callable[[Any], Update] = field(default=lambda config: LikelihoodUpdate())
    # TrainConfig fields the preset's recipe sets; options given on the command line win
    train: dict[str, Any] = field(default_factory=dict)
    recipe: str = GENVID_RECIPE  # where `train` comes from (`genvid info` prints it)


def _binarized_mnist(nats: float) -> Callable[[Any], Protocol]:
    """NLL on the fixed binarized MNIST test set beside the paper's figure (nats per image)."""
    return lambda config: ImageNLL({"nats_per_image": nats}, "binarized-mnist")


def _cifar10(bits: float) -> Callable[[Any], Protocol]:
    return lambda config: ImageNLL({"bits_per_dim": bits}, "cifar10")


def _moving_mnist(paper: dict[str, float]) -> Callable[[Any], Protocol]:
    """Frames 11-20 given 1-10; the entropy bound applies to the soft-Bernoulli likelihood."""

    def protocol(config: Any) -> Protocol:
        soft = config.likelihood == "soft_bernoulli"
        return VideoNLL(entropy_bound=soft, discrete=not soft, paper=paper)

    return protocol


VPN_PAPER = {"VPN": 87.6, "VPN baseline": 110.1, "lower bound": 86.3}  # nats/frame, table 1
# SRVP's Stochastic Moving MNIST test set, 5 -> 20 frames, best of 100 (SLAMP, Akan et al.
# 2021, table 4, from SRVP's evaluation code): printed beside evaluations on that set only.
SMMNIST_PAPER = {
    "SVG-LP (SLAMP table 4)": {"psnr": 14.50, "ssim": 0.7090},
    "SRVP (SLAMP table 4)": {"psnr": 16.93, "ssim": 0.7799},
    "SLAMP (SLAMP table 4)": {"psnr": 18.07, "ssim": 0.7736},
}


def _frame_prediction(
    predicted: int, paper: dict | None = None, paper_data: str = ""
) -> Callable[[Any], Protocol]:
    """Best of 100 SSIM/PSNR after the config's context frames; one sample if deterministic.
    `paper` figures are printed beside evaluations on `paper_data` only."""

    def protocol(config: Any) -> Protocol:
        stochastic = config.variant != "deterministic"
        return FramePrediction(
            context=config.context_frames,
            predicted=predicted,
            stochastic=stochastic,
            paper=paper,
            paper_data=paper_data,
        )

    return protocol


def _svg(variant: str, backbone: str, **fields: Any) -> SVGConfig:
    return SVGConfig(variant=variant, backbone=backbone, **fields)


def _adversarial(config: VideoGANConfig) -> AdversarialUpdate:
    """The video GAN's recipe from its config: an optimiser per group and the phase schedule.

    The LSTM's Adam (when it has one) uses the frame generator's betas.
    """
    generator_betas = (config.generator_beta1, config.generator_beta2)
    recipes = {
        "critic": GroupRecipe(
            config.critic_optimizer,
            config.critic_lr,
            betas=(config.critic_beta1, config.critic_beta2),
        ),
        "frame_generator": GroupRecipe(
            config.generator_optimizer, config.generator_lr, betas=generator_betas
        ),
        "lstm": GroupRecipe(
            config.lstm_optimizer,
            config.lstm_lr,
            betas=generator_betas,
            momentum=config.lstm_momentum,
        ),
    }
    if config.switch == "threshold":
        schedule = ThresholdSchedule(
            config.critic_threshold, config.generator_threshold, config.threshold_max_steps
        )
    else:
        schedule = CriticSchedule(
            config.n_critic, config.warmup_n_critic, config.warmup_generator_steps
        )
    return AdversarialUpdate(recipes, schedule)


def _fvd(config: VideoGANConfig) -> Protocol:
    """FVD of 2,048 generated clips against a seeded random subset of 2,048 real test clips, the
    real-vs-real floor (a second, disjoint subset) and the generated clips' diversity."""
    return VideoFVD(frames=config.frames)


_WGAN_GP = dict(grad_clip=None)  # Gulrajani et al. clip nothing: the penalty bounds the critic
_WGAN_GP_RECIPE = (
    "WGAN-GP (Gulrajani et al. 2017, algorithm 1): Adam lr 1e-4, betas (0, 0.9), n_critic 5, "
    "lambda 10 in the model config; batch 64, no clipping"
)
# The seed's recipe (the TensorFlow video GAN's notes): lambda 200, SGD with momentum for the
# LSTM, more critic steps early, instance noise, Glorot initialisation, per-tensor clipping.
# The noise level (0.1) and the clipping norm (1.0) are genvid's choices: the notes give none.
_SEED = dict(
    gp_weight=200.0,
    lstm_optimizer="sgd",
    lstm_lr=1e-3,
    lstm_momentum=0.95,
    warmup_generator_steps=25,
    warmup_n_critic=100,
    instance_noise=0.1,
    init="glorot",
)
# The classic losses with DCGAN's Adam (lr 2e-4, beta1 0.5) and one critic step per generator
# step, no penalty.
_CLASSIC = dict(
    gp_weight=0.0,
    n_critic=1,
    critic_lr=2e-4,
    critic_beta1=0.5,
    critic_beta2=0.999,
    generator_lr=2e-4,
    generator_beta1=0.5,
    generator_beta2=0.999,
    lstm_lr=2e-4,
)


_SMMNIST = dict(channels=1, g_dim=128, z_dim=10, beta=1e-4, context_frames=5, future_frames=10)
# SVG's training recipe: the defaults of edenton/svg's train_svg_lp.py / train_svg_fp.py (Adam,
# lr 0.002, beta1 0.9 = torch's default betas, batch 100, no clipping, constant lr).
_SVG_TRAIN = dict(lr=2e-3, batch_size=100, grad_clip=None, lr_schedule="constant")
_SVG_RECIPE = "SVG's code: edenton/svg train_svg_lp.py's defaults (Adam beta1 0.9)"
# The PixelRNN paper's (van den Oord et al. 2016, section 5): RMSProp, batch 16 on MNIST and
# CIFAR-10 (the batch acts as a regulariser), 32 or 64 on ImageNet; it states no learning rate.
_PIXELRNN_TRAIN = dict(optimizer="rmsprop", batch_size=16)
_PIXELRNN_RECIPE = "the PixelRNN paper, section 5 (no lr or clipping stated: genvid's)"
# A user's own 3-channel 64x64 clips of 20 frames: BAIR's settings in the paper's code (z 64,
# beta 1e-4, 2 past), trained on whole clips (18 future frames; BAIR's evaluation predicts 28).
_VGG = dict(channels=3, g_dim=128, z_dim=64, beta=1e-4, context_frames=2, future_frames=18)


_PRESETS = {
    p.name: p
    for p in (
        Preset(
            "pixelcnn-mnist",
            PixelCNN,
            PixelCNNConfig(
                channels=1,
                likelihood="bernoulli",
                hidden_channels=32,
                num_layers=12,
                output_channels=32,
            ),
            "binarized-mnist",
            "PixelCNN for binarised MNIST (12 residual blocks, h=32, output 32 maps)",
            _binarized_mnist(81.30),
        ),
        Preset(
            "pixelcnn-cifar10",
            PixelCNN,
            PixelCNNConfig(
                channels=3,
                likelihood="categorical",
                hidden_channels=128,
                num_layers=15,
                output_channels=1024,
            ),
            "cifar10",
            "PixelCNN of the PixelRNN paper for CIFAR-10 (15 layers, h=128, 256-way softmax, RGB)",
            _cifar10(3.14),
            train=_PIXELRNN_TRAIN,
            recipe=_PIXELRNN_RECIPE,
        ),
        Preset(
            "row-lstm-mnist",
            PixelRNN,
            PixelRNNConfig(layer="row", hidden_channels=16, num_layers=7, output_channels=32),
            "binarized-mnist",
            "Row LSTM for binarised MNIST (7 layers, h=16, output 32 maps; the paper's MNIST size)",
            _binarized_mnist(80.54),
            train=_PIXELRNN_TRAIN,
            recipe=_PIXELRNN_RECIPE,
        ),
        Preset(
            "diagonal-bilstm-mnist",
            PixelRNN,
            PixelRNNConfig(layer="diagonal", hidden_channels=16, num_layers=7, output_channels=32),
            "binarized-mnist",
            "Diagonal BiLSTM for binarised MNIST (7 layers, h=16; paper: 79.20 nats)",
            _binarized_mnist(79.20),
            train=_PIXELRNN_TRAIN,
            recipe=_PIXELRNN_RECIPE,
        ),
        Preset(
            "row-lstm-cifar10",
            PixelRNN,
            PixelRNNConfig(
                channels=3,
                likelihood="categorical",
                layer="row",
                hidden_channels=128,
                num_layers=12,
                output_channels=1024,
            ),
            "cifar10",
            "Row LSTM for CIFAR-10 (12 layers, h=128, 256-way softmax, RGB; paper: 3.07 bits/dim)",
            _cifar10(3.07),
            train=_PIXELRNN_TRAIN,
            recipe=_PIXELRNN_RECIPE,
        ),
        Preset(
            "diagonal-bilstm-cifar10",
            PixelRNN,
            PixelRNNConfig(
                channels=3,
                likelihood="categorical",
                layer="diagonal",
                hidden_channels=128,
                num_layers=12,
                output_channels=1024,
            ),
            "cifar10",
            "Diagonal BiLSTM for CIFAR-10 (12 layers, h=128, RGB; paper: 3.00 bits/dim)",
            _cifar10(3.00),
            train=_PIXELRNN_TRAIN,
            recipe=_PIXELRNN_RECIPE,
        ),
        Preset(
            "multiscale-pixelrnn-mnist",
            MultiScalePixelRNN,
            MultiScalePixelRNNConfig(
                layer="diagonal", hidden_channels=16, num_layers=7, output_channels=32, factor=2
            ),
            "binarized-mnist",
            "Multi-Scale Diagonal BiLSTM for binarised MNIST (14x14 then 28x28, 7 layers, h=16)",
            lambda config: ImageNLL(),
        ),
        Preset(
            "multiscale-row-lstm-imagenet64",
            MultiScalePixelRNN,
            MultiScalePixelRNNConfig(
                channels=3,
                likelihood="categorical",
                layer="row",
                hidden_channels=512,
                num_layers=4,
                output_channels=1024,
                residual=False,
                factor=2,
                condition_channels=128,
            ),
            "imagenet64",
            "Multi-Scale Row LSTM of the paper's ImageNet 64x64 model (32x32 then 64x64, 4 layers, "
            "h=512, no residual) for your downsampled ImageNet 64x64 (--root DIR)",
            lambda config: ImageNLL(),
            train=dict(optimizer="rmsprop", batch_size=64),
            recipe=_PIXELRNN_RECIPE,
        ),
        Preset(
            "vpn-full",
            VideoPixelNetwork,
            VPNConfig(hidden_channels=128, encoder_blocks=8, decoder_blocks=12, lstm_channels=256),
            "moving-mnist",
            "Video Pixel Network, full (c=128, 8 dilated encoder RMBs, 12 decoder RMBs, "
            "ConvLSTM 256; paper: 87.6 nats/frame)",
            _moving_mnist(VPN_PAPER),
            recipe=_VPN_RECIPE,
        ),
        Preset(
            "vpn-mini",
            VideoPixelNetwork,
            VPNConfig(hidden_channels=32, encoder_blocks=4, decoder_blocks=6, lstm_channels=64),
            "moving-mnist",
            "Video Pixel Network, mini (c=32, 4 dilated encoder RMBs, 6 decoder RMBs, LSTM 64)",
            _moving_mnist(VPN_PAPER),
            recipe=_VPN_RECIPE,
        ),
        Preset(
            "vpn-micro",
            VideoPixelNetwork,
            VPNConfig(hidden_channels=32, encoder_blocks=2, decoder_blocks=3, lstm_channels=64),
            "moving-mnist",
            "Video Pixel Network, micro (c=32, 2 dilated encoder RMBs, 3 decoder RMBs, LSTM 64)",
            _moving_mnist(VPN_PAPER),
            recipe=_VPN_RECIPE,
        ),
        Preset(
            "vpn-baseline",
            VideoPixelNetwork,
            VPNConfig(
                hidden_channels=128,
                encoder_blocks=8,
                decoder_blocks=12,
                lstm_channels=256,
                baseline=True,
            ),
            "moving-mnist",
            "VPN baseline: vpn-full's encoder and ConvLSTM, unmasked decoder blind to the "
            "current frame (paper: 110.1 nats/frame)",
            _moving_mnist(VPN_PAPER),
            recipe=_VPN_RECIPE,
        ),
        *(
            Preset(
                f"svg-{short}-smmnist",
                SVG,
                _svg(variant, "dcgan", **_SMMNIST),
                "moving-mnist-stochastic",
                f"SVG {title} for Stochastic Moving MNIST as SVG's code makes it (DCGAN-64, g 128, "
                "z 10, beta 1e-4, 5 past, 10 future; eval: 20 predicted, best of 100; no "
                "published numbers on this set)",
                _frame_prediction(20),
                train=_SVG_TRAIN,
                recipe=_SVG_RECIPE,
            )
            for short, variant, title in (
                ("lp", "lp", "learned prior"),
                ("fp", "fp", "fixed prior"),
                ("det", "deterministic", "deterministic baseline"),
            )
        ),
        *(
            Preset(
                f"svg-{short}-srvp",
                SVG,
                _svg(variant, "dcgan", **_SMMNIST),
                "moving-mnist-srvp",
                f"SVG {title} for SRVP's Stochastic Moving MNIST, the set of the later papers' "
                "figures (DCGAN-64, g 128, z 10, beta 1e-4, 5 past, 10 future; eval: SRVP's "
                "test set, 20 predicted, best of 100)",
                _frame_prediction(20, SMMNIST_PAPER, "moving-mnist-srvp"),
                train=_SVG_TRAIN,
                recipe=_SVG_RECIPE,
            )
            for short, variant, title in (
                ("lp", "lp", "learned prior"),
                ("fp", "fp", "fixed prior"),
                ("det", "deterministic", "deterministic baseline"),
            )
        ),
        *(
            Preset(
                f"svg-{short}-vgg64",
                SVG,
                _svg(variant, "vgg", **_VGG),
                "video-folder",
                f"SVG {title} for your 64x64 colour videos (--data video-folder --root DIR; "
                "VGG-64, z 64, 2 past, 18 future)",
                _frame_prediction(18),
                train=_SVG_TRAIN,
                recipe=_SVG_RECIPE,
            )
            for short, variant, title in (
                ("lp", "lp", "learned prior"),
                ("fp", "fp", "fixed prior"),
                ("det", "deterministic", "deterministic baseline"),
            )
        ),
        Preset(
            "videogan-mmnist",
            VideoGAN,
            VideoGANConfig(),
            "moving-mnist",
            "Video GAN (LSTM in noise space, DCGAN frames with layer norm, VGAN 3-D critic), "
            "WGAN-GP lambda 10, n_critic 5, 16-frame Moving MNIST clips; eval: FVD",
            _fvd,
            _adversarial,
            _WGAN_GP,
            recipe=_WGAN_GP_RECIPE,
        ),
        Preset(
            "videogan-mmnist-seed",
            VideoGAN,
            VideoGANConfig(**_SEED),
            "moving-mnist",
            "videogan-mmnist with the seed's recipe: lambda 200, SGD+momentum LSTM, 100 critic "
            "steps per generator step for 25, instance noise, Glorot init, per-tensor clipping",
            _fvd,
            _adversarial,
            dict(grad_clip=1.0, grad_clip_mode="tensor"),
            recipe="the seed's notes: lambda 200, SGD+momentum LSTM, 100 critic steps for the "
            "first 25 generator steps in the model config; per-tensor clipping (norm genvid's)",
        ),
        Preset(
            "videogan-mmnist-ns",
            VideoGAN,
            VideoGANConfig(loss="non-saturating", **_CLASSIC),
            "moving-mnist",
            "videogan-mmnist with the non-saturating loss (-log D), DCGAN's Adam, 1 critic step",
            _fvd,
            _adversarial,
            dict(grad_clip=None),
            recipe="DCGAN's Adam (lr 2e-4, beta1 0.5) and one critic step per generator step in "
            "the model config; no clipping",
        ),
        Preset(
            "videogan-mmnist-minimax",
            VideoGAN,
            VideoGANConfig(loss="minimax", **_CLASSIC),
            "moving-mnist",
            "videogan-mmnist with the classic minimax loss, DCGAN's Adam, 1 critic step",
            _fvd,
            _adversarial,
            dict(grad_clip=None),
            recipe="DCGAN's Adam (lr 2e-4, beta1 0.5) and one critic step per generator step in "
            "the model config; no clipping",
        ),
        Preset(
            "videogan-pacman",
            VideoGAN,
            VideoGANConfig(channels=3),
            "pacman",
            "videogan-mmnist's WGAN-GP model for Ms. Pac-Man clips rendered locally from "
            "ale-py's ROM (genvid's own data), 16 frames",
            _fvd,
            _adversarial,
            _WGAN_GP,
            recipe=_WGAN_GP_RECIPE,
        ),
    )
}


def recipe_summary(name: str) -> str:
    """The training recipe `genvid train NAME` uses, and where it comes from (`genvid info`)."""
    preset = get_preset(name)
    config = TrainConfig(**preset.train)
    clip = "no clipping" if config.grad_clip is None else f"clipping {config.grad_clip:g}"
    return (
        f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, {clip}, "
        f"{config.lr_schedule} lr: {preset.recipe}"
    )


def presets() -> list[str]:
    """Names of every preset, sorted."""
    return sorted(_PRESETS)


def get_preset(name: str) -> Preset:
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(presets())}")
    return _PRESETS[name]


def make_config(name: str, **overrides: Any) -> Any:
    """The preset's config with `overrides` applied (any field of its config dataclass)."""
    config = get_preset(name).config
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"preset {name!r} has no field {unknown[0]!r}; its fields: {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(config, **overrides)


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the model of preset `name`, with any config field overridden.

    Example: `genvid.create("pixelcnn-mnist", channels=3, likelihood="categorical")`.
    """
    return get_preset(name).build(make_config(name, **overrides))


def update(name: str, **overrides: Any) -> Update:
    """What one training step of preset `name` (with config `overrides`) does."""
    return get_preset(name).update(make_config(name, **overrides))


def protocol(name: str, **overrides: Any) -> Protocol:
    """How runs of preset `name` (with config `overrides`) are evaluated and sampled."""
    return get_preset(name).protocol(make_config(name, **overrides))
