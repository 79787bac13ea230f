"""What a preset is, and the pieces several families' presets share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from genvid.protocols import ImageNLL, Protocol
from genvid.train.update import LikelihoodUpdate, Update

GENVID_RECIPE = "genvid's defaults: no paper trained this configuration"
# The PixelRNN paper's (van den Oord et al. 2016, section 5), for its PixelRNNs and PixelCNN:
# RMSProp, batch 16 on MNIST and CIFAR-10 (the batch acts as a regulariser), 32 or 64 on
# ImageNet; it states no learning rate.
PIXELRNN_TRAIN = dict(optimizer="rmsprop", batch_size=16)
PIXELRNN_RECIPE = "the PixelRNN paper, section 5 (no lr or clipping stated: genvid's)"


@dataclass(frozen=True)
class Preset:
    """A named configuration: the model, its data, how it is judged and trained."""

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
    # config overrides that make the model tiny (seconds to build, train and sample in tests)
    tiny: dict[str, Any] = field(default_factory=dict)


def binarized_mnist_nll(nats: float) -> Callable[[Any], Protocol]:
    """NLL on the fixed binarized MNIST test set beside the paper's figure (nats per image)."""
    return lambda config: ImageNLL({"nats_per_image": nats}, "binarized-mnist")


def cifar10_nll(bits: float) -> Callable[[Any], Protocol]:
    """NLL on CIFAR-10's test batch beside the paper's figure (bits per dimension)."""
    return lambda config: ImageNLL({"bits_per_dim": bits}, "cifar10")
