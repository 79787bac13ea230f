"""What the exact-likelihood protocols (`ImageNLL`, `VideoNLL`) share: the options of their
raster samplers, and what completion asks of a model.

`AutoregressiveSampling` is `genvid sample`'s --naive, --compile, --temperature, --complete
and --mask, one field each under the option's name; the protocols turn it into the sampler's
keywords. A protocol that declares no such options refuses them (`base.options_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from genvid.nn.likelihoods import Bernoulli, Categorical, OutOfSupportError, check_support


@dataclass(frozen=True)
class AutoregressiveSampling:
    """The raster samplers' options, as `genvid sample` takes them."""

    naive: bool = False  # the naive reference sampler (the same draws), not the cached one
    compile: bool = False  # the cached sampler's step through torch.compile
    temperature: float = 1.0  # logits divided by it (1.0: the model's distribution)
    complete: Path | None = None  # .npy of uint8 images [N, (C,) H, W] or videos [N, T, (C,) H, W]
    mask: str | None = None  # with `complete`: "top-half" or a .npy 0/1 [H, W] of given pixels

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}")
        if (self.complete is None) != (self.mask is None):
            raise ValueError("--complete FILE.npy and --mask go together")

    def sampler_keywords(self) -> dict[str, Any]:
        """The keywords every raster model's `sample` takes for these options."""
        return {"fast": not self.naive, "compiled": self.compile, "temperature": self.temperature}

    def completion(self) -> tuple[Tensor, Tensor] | None:
        """What to complete (uint8, 3 to 5 dimensions: the protocol says which it takes) and
        the bool `[H, W]` of given pixels; None without `complete`."""
        if self.complete is None:
            return None
        path, mask = self.complete, self.mask
        images = _read_npy(path, "--complete")
        if images.dtype != np.uint8 or images.ndim not in (3, 4, 5):
            raise ValueError(
                f"--complete {path}: wants uint8 images [N, (C,) H, W] or videos "
                f"[N, T, (C,) H, W], got {images.dtype} {images.shape}"
            )
        if images.size == 0:
            raise ValueError(f"--complete {path} holds no images: shape {images.shape}")
        height, width = images.shape[-2:]
        if mask == "top-half":
            given = torch.zeros(height, width, dtype=torch.bool)
            given[: height // 2] = True
            return torch.from_numpy(images), given
        if not Path(mask).is_file():
            raise ValueError(
                f"--mask {mask}: no such mask or file; the named masks are: top-half (or give a "
                ".npy 0/1 array [H, W])"
            )
        array = _read_npy(Path(mask), "--mask")
        if array.shape != (height, width) or array.dtype.kind not in "biu":
            raise ValueError(
                f"--mask {mask}: wants top-half or a 0/1 array [{height}, {width}], got "
                f"{array.dtype} {array.shape}"
            )
        if not np.isin(array, (0, 1)).all():  # 1 = given; any other value is a mistake
            raise ValueError(
                f"--mask {mask}: wants 0 (drawn) or 1 (given), holds "
                f"{sorted(set(np.unique(array).tolist()) - {0, 1})[:3]}"
            )
        return torch.from_numpy(images), torch.from_numpy(array == 1)


def _read_npy(path: Path, option: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise ValueError(f"{option} {path} is not a readable .npy file: {err}") from None


@runtime_checkable
class AutoregressiveModel(Protocol):
    """What completion and the samplers' placement ask of an autoregressive model (an
    `nn.Module`): its channels, its likelihood and its device."""

    config: Any  # its `channels`: the channels of a drawn image or frame
    likelihood: Bernoulli | Categorical
    device: torch.device


def check_given(model: AutoregressiveModel, values: Tensor) -> None:
    """Refuse `--complete` values `[..., C, H, W]` the model cannot be given: another number
    of channels than it draws, or values its likelihood gives no probability (2 or 255 for a
    Bernoulli), by the check its evaluation uses."""
    channels = model.config.channels
    if values.shape[-3] != channels:
        raise ValueError(
            f"--complete: the model draws {channels}-channel images, the file holds "
            f"{values.shape[-3]} channels"
        )
    try:
        check_support(values, model.likelihood)
    except OutOfSupportError as err:
        raise OutOfSupportError(f"--complete: {err}") from None
