"""PixelRNN presets: Row LSTM, Diagonal BiLSTM and Multi-Scale PixelRNN at the paper's sizes
(van den Oord et al. 2016, arXiv 1601.06759, section 5 and table 4)."""

from __future__ import annotations

from genvid.models.multiscale import MultiScalePixelRNN, MultiScalePixelRNNConfig
from genvid.models.pixelrnn import PixelRNN, PixelRNNConfig
from genvid.presets.base import (
    PIXELRNN_RECIPE,
    PIXELRNN_TRAIN,
    Preset,
    binarized_mnist_nll,
    cifar10_nll,
)
from genvid.protocols import ImageNLL

TINY = dict(hidden_channels=3, num_layers=1, output_channels=8)  # what the tests build (RGB: >= 3)
TINY_MULTISCALE = dict(hidden_channels=3, num_layers=1, output_channels=8, condition_channels=3)

PRESETS = (
    Preset(
        "row-lstm-mnist",
        PixelRNN,
        PixelRNNConfig(layer="row", hidden_channels=16, num_layers=7, output_channels=32),
        "binarized-mnist",
        "Row LSTM for binarised MNIST (7 layers, h=16, output 32 maps; the paper's MNIST size)",
        binarized_mnist_nll(80.54),
        train=PIXELRNN_TRAIN,
        recipe=PIXELRNN_RECIPE,
        tiny=TINY,
    ),
    Preset(
        "diagonal-bilstm-mnist",
        PixelRNN,
        PixelRNNConfig(layer="diagonal", hidden_channels=16, num_layers=7, output_channels=32),
        "binarized-mnist",
        "Diagonal BiLSTM for binarised MNIST (7 layers, h=16; paper: 79.20 nats)",
        binarized_mnist_nll(79.20),
        train=PIXELRNN_TRAIN,
        recipe=PIXELRNN_RECIPE,
        tiny=TINY,
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
        cifar10_nll(3.07),
        train=PIXELRNN_TRAIN,
        recipe=PIXELRNN_RECIPE,
        tiny=TINY,
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
        cifar10_nll(3.00),
        train=PIXELRNN_TRAIN,
        recipe=PIXELRNN_RECIPE,
        tiny=TINY,
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
        tiny=TINY_MULTISCALE,
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
        recipe=PIXELRNN_RECIPE,
        tiny=TINY_MULTISCALE,
    ),
)
