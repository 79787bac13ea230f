"""PixelCNN presets (van den Oord et al. 2016, arXiv 1601.06759, and its CIFAR-10 size)."""

from __future__ import annotations

from genvid.models.pixelcnn import PixelCNN, PixelCNNConfig
from genvid.presets.base import (
    PIXELRNN_RECIPE,
    PIXELRNN_TRAIN,
    Preset,
    binarized_mnist_nll,
    cifar10_nll,
)

TINY = dict(hidden_channels=4, num_layers=1, output_channels=8)  # what the tests build
# The CPU-hours recipe: half as wide again as the demo's size (2.2x its parameters, 0.56x its
# images per second), lr 2e-3 (the issue-12 sweep's best at 200 updates), cosine decay over
# 20,000 updates of batch 64: about 3.6 core-hours of bf16 on one AMD EPYC core, 25 epochs.
WIDE_TRAIN = dict(
    lr=2e-3,
    batch_size=64,
    lr_schedule="cosine",
    warmup_steps=200,
    precision="bf16",
    steps=20_000,
)
WIDE_RECIPE = "genvid's: lr from the issue-12 sweep (200 updates), cosine, a 4-core-hour budget"

PRESETS = (
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
        binarized_mnist_nll(81.30),
        tiny=TINY,
    ),
    Preset(
        "pixelcnn-mnist-wide",
        PixelCNN,
        PixelCNNConfig(
            channels=1,
            likelihood="bernoulli",
            hidden_channels=48,
            num_layers=12,
            output_channels=48,
        ),
        "binarized-mnist",
        "PixelCNN for binarised MNIST at a few CPU-hours (12 residual blocks, h=48, output 48)",
        binarized_mnist_nll(81.30),
        train=WIDE_TRAIN,
        recipe=WIDE_RECIPE,
        tiny=TINY,
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
        cifar10_nll(3.14),
        train=PIXELRNN_TRAIN,
        recipe=PIXELRNN_RECIPE,
        tiny=TINY,
    ),
)
