"""Named model configurations: the papers' sizes, and what `genvid.create` builds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from genvid.models.multiscale import MultiScalePixelRNN, MultiScalePixelRNNConfig
from genvid.models.pixelcnn import PixelCNN, PixelCNNConfig
from genvid.models.pixelrnn import PixelRNN, PixelRNNConfig
from genvid.models.vpn import VideoPixelNetwork, VPNConfig


@dataclass(frozen=True)
class Preset:
    name: str
    build: Callable[[Any], nn.Module]  # config -> model
    config: Any  # a frozen config dataclass instance
    data: str  # default training data set (a `genvid.data` registry name)
    description: str


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
        ),
        Preset(
            "row-lstm-mnist",
            PixelRNN,
            PixelRNNConfig(layer="row", hidden_channels=16, num_layers=7, output_channels=32),
            "binarized-mnist",
            "Row LSTM for binarised MNIST (7 layers, h=16, output 32 maps; the paper's MNIST size)",
        ),
        Preset(
            "diagonal-bilstm-mnist",
            PixelRNN,
            PixelRNNConfig(layer="diagonal", hidden_channels=16, num_layers=7, output_channels=32),
            "binarized-mnist",
            "Diagonal BiLSTM for binarised MNIST (7 layers, h=16; paper: 79.20 nats)",
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
        ),
        Preset(
            "multiscale-pixelrnn-mnist",
            MultiScalePixelRNN,
            MultiScalePixelRNNConfig(
                layer="diagonal", hidden_channels=16, num_layers=7, output_channels=32, factor=2
            ),
            "binarized-mnist",
            "Multi-Scale Diagonal BiLSTM for binarised MNIST (14x14 then 28x28, 7 layers, h=16)",
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
        ),
        Preset(
            "vpn-full",
            VideoPixelNetwork,
            VPNConfig(hidden_channels=128, encoder_blocks=8, decoder_blocks=12, lstm_channels=256),
            "moving-mnist",
            "Video Pixel Network, full (c=128, 8 dilated encoder RMBs, 12 decoder RMBs, "
            "ConvLSTM 256; paper: 87.6 nats/frame)",
        ),
        Preset(
            "vpn-mini",
            VideoPixelNetwork,
            VPNConfig(hidden_channels=32, encoder_blocks=4, decoder_blocks=6, lstm_channels=64),
            "moving-mnist",
            "Video Pixel Network, mini (c=32, 4 dilated encoder RMBs, 6 decoder RMBs, LSTM 64)",
        ),
        Preset(
            "vpn-micro",
            VideoPixelNetwork,
            VPNConfig(hidden_channels=32, encoder_blocks=2, decoder_blocks=3, lstm_channels=64),
            "moving-mnist",
            "Video Pixel Network, micro (c=32, 2 dilated encoder RMBs, 3 decoder RMBs, LSTM 64)",
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
        ),
    )
}


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
