"""Named model configurations, one module per family: what `genvid.create` builds.

Each module of this package (but `base`) exports `PRESETS`, a tuple of `Preset`s; the package
finds the modules itself, so a new family adds its model file, its blocks and its preset module
and edits no shared file. Names must be unique across modules.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from torch import nn

from genvid.presets.base import Preset
from genvid.protocols import Protocol
from genvid.train.config import TrainConfig
from genvid.train.update import Update

__all__ = [
    "Preset",
    "create",
    "get_preset",
    "make_config",
    "presets",
    "protocol",
    "recipe_summary",
    "update",
]


def _discover() -> dict[str, Preset]:
    """Every family module's presets by name; a name defined twice is an error."""
    found: dict[str, Preset] = {}
    where: dict[str, str] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name == "base" or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for preset in module.PRESETS:
            if preset.name in found:
                raise ValueError(
                    f"preset {preset.name!r} is defined by both {where[preset.name]} and "
                    f"{module.__name__}"
                )
            found[preset.name], where[preset.name] = preset, module.__name__
    return found


_PRESETS = _discover()


def presets() -> list[str]:
    """Names of every preset, sorted."""
    return sorted(_PRESETS)


def get_preset(name: str) -> Preset:
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(presets())}")
    return _PRESETS[name]


def recipe_summary(name: str) -> str:
    """The training recipe `genvid train NAME` uses, and where it comes from (`genvid info`)."""
    preset = get_preset(name)
    config = TrainConfig(**preset.train)
    clip = "no clipping" if config.grad_clip is None else f"clipping {config.grad_clip:g}"
    optimizers = preset.update(preset.config).describe(config)
    extras = {  # what a recipe may set beyond the optimiser, shown only where it does
        "warmup_steps": f"{config.warmup_steps} warm-up steps",
        "steps": f"{config.steps:,} steps",
        "precision": config.precision,
        "channels_last": "channels_last" if config.channels_last else "contiguous",
    }
    shown = [text for field, text in extras.items() if field in preset.train]
    return (
        f"{optimizers}, batch {config.batch_size}, {clip}, {config.lr_schedule} lr"
        + "".join(f", {text}" for text in shown)
        + f": {preset.recipe}"
    )


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
