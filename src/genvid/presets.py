"""Named model configurations: the papers' sizes, and what `genvid.create` builds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from genvid.models.pixelcnn import PixelCNN, PixelCNNConfig


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
