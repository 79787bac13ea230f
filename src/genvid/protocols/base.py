"""What every evaluation protocol provides to the run lifecycle (`genvid.runs`) and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Protocol as _Interface

import torch
from torch import Tensor, nn

from genvid.nn.likelihoods import OutOfSupportError, check_support

Sampler = Callable[[nn.Module], Tensor]  # model -> uint8 samples for TensorBoard


@dataclass(frozen=True)
class SampleRequest:
    """What `genvid sample` asks for; each protocol uses the fields that apply to it."""

    out: Path  # .png or .gif
    count: int  # images to draw, or test videos to continue
    steps: int | None  # frames to generate (video protocols); None: the protocol's own
    size: tuple[int, int] | None  # --size HxW (image protocols); None: not given
    generator: torch.Generator
    fast: bool  # cached sampler (likelihood models); False: the naive reference
    compiled: bool = False  # the cached sampler's step through torch.compile
    temperature: float = 1.0  # autoregressive models: logits divided by it (1.0: exact)
    complete: Tensor | None = None  # uint8 images [N, (C,) H, W] or videos [N, T, (C,) H, W]
    mask: Tensor | None = None  # bool [H, W]: the pixels of `complete` kept as given
    data_size: tuple[int, int] | None = None  # the training data's HxW (the default size)


def plain_sampling_only(request: SampleRequest) -> None:
    """Refuse the options of autoregressive samplers where a protocol draws otherwise."""
    if request.temperature != 1.0 or request.complete is not None or request.compiled:
        raise ValueError(
            "--temperature, --complete and --compile apply to the autoregressive likelihood models"
        )


def no_size(request: SampleRequest) -> None:
    """Refuse `--size` where the frames' size is fixed (the model's, or the test videos')."""
    if request.size is not None:
        raise ValueError(
            "--size applies to image models; a video model's frames have the size of its "
            "training data"
        )


def check_given(model: nn.Module, values: Tensor) -> None:
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


class Protocol(_Interface):
    """The interface; implementations are frozen dataclasses holding the protocol's settings."""

    name: str  # stored in every report
    objective: tuple[str, str]  # (report key, "minimize" or "maximize"): what a sweep optimises

    def evaluate(
        self,
        model: nn.Module,
        examples: Tensor,
        *,
        data: str,
        batch_size: int | None,
        samples: int | None,
        device: torch.device,
        seed: int,
    ) -> dict[str, Any]:
        """Figures of `model` on uint8 `examples` of data set `data` (a JSON-able report with
        "count"); `samples` and `seed` matter only to sampled protocols."""
        ...

    def summary(self, report: dict[str, Any]) -> list[str]:
        """The lines `genvid eval` prints for a report this protocol wrote."""
        ...

    def sample(self, model: nn.Module, request: SampleRequest, videos: Callable[[int], Tensor]):
        """Write samples as `request` says and return the path; `videos(n)` gives the first n
        test videos of the run's data (for protocols that continue videos)."""
        ...

    def training_sampler(self, stream, seed: int) -> Sampler:
        """What TensorBoard shows during training: a few samples drawn from `seed` (a
        protocol that predicts from context frames takes them from the training `stream`)."""
        ...


def no_samples(samples: int | None) -> None:
    """Refuse `--samples` where an evaluation draws nothing (an exact likelihood)."""
    if samples is not None:
        raise ValueError("--samples applies to sampled evaluations (SVG); an exact NLL has none")


def paper_line(paper: dict[str, float]) -> str:
    """`{"nats_per_image": 81.3}` -> "nats per image 81.3", for a summary line."""
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in paper.items())
