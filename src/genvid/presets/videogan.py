"""Video GAN presets: an LSTM in noise space, DCGAN frames and VGAN's 3-D critic, trained with
WGAN-GP (Gulrajani et al. 2017, arXiv 1704.00028), the seed project's recipe, or the classic
losses; Moving MNIST and genvid's Ms. Pac-Man clips; judged by FVD."""

from __future__ import annotations

from genvid.models.videogan import VideoGAN, VideoGANConfig
from genvid.presets.base import Preset
from genvid.protocols import Protocol, VideoFVD
from genvid.train.adversarial import (
    AdversarialUpdate,
    CriticSchedule,
    GroupRecipe,
    ThresholdSchedule,
)

TINY = dict(hidden_channels=2, critic_channels=2, z_dim=4, rnn_size=8)  # what the tests build


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
# The CPU-hours recipe (issue 25): the best trial of the minutes-budget sweep
# (docs/sweeps/videogan-mmnist-minutes.toml: 15 CPU-minutes a trial, FVD of 128 validation clips,
# collapse refused), its learning rates rounded to two digits: the narrowest critic there (16
# maps) trains the most updates per minute. Its 32,000 bf16 updates of batch 16 take about 3.6
# hours of one AMD EPYC core (0.41 s an update).
SMALL = dict(
    hidden_channels=23,
    critic_channels=16,
    n_critic=4,
    critic_lr=1.4e-4,
    generator_lr=1.3e-4,
    lstm_lr=1.1e-4,
)
SMALL_TRAIN = dict(_WGAN_GP, batch_size=16, precision="bf16", steps=32_000)


PRESETS = (
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
        tiny=TINY,
    ),
    Preset(
        "videogan-mmnist-small",
        VideoGAN,
        VideoGANConfig(**SMALL),
        "moving-mnist",
        "videogan-mmnist at a few CPU-hours: WGAN-GP, frame generator 23 maps, critic 16, "
        "n_critic 4 (the minutes-budget sweep's best); eval: FVD",
        _fvd,
        _adversarial,
        SMALL_TRAIN,
        recipe="the best of genvid's minutes-budget sweep (docs/sweeps/"
        "videogan-mmnist-minutes.toml), Adam betas (0, 0.9); about 4 core-hours",
        tiny=TINY,
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
        tiny=TINY,
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
        tiny=TINY,
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
        tiny=TINY,
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
        tiny=TINY,
    ),
)
