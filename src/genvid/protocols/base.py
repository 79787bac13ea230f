"""What every evaluation protocol provides to the run lifecycle (`genvid.runs`) and the CLI."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar
from typing import Protocol as _Interface

import torch
from torch import Tensor, nn

Sampler = Callable[[nn.Module], Tensor]  # model -> uint8 samples for TensorBoard


@dataclass(frozen=True)
class SampleRequest:
    """What `genvid sample` asks of every protocol, and the protocol's own sampler options."""

    out: Path  # one of the protocol's `sample_formats`
    count: int  # images to draw, or test videos to continue
    steps: int | None  # frames to generate (video protocols); None: the protocol's own
    size: tuple[int, int] | None  # --size HxW (image protocols); None: not given
    generator: torch.Generator
    data_size: tuple[int, int] | None = None  # the training data's HxW (the default size)
    options: Any = None  # an instance of the protocol's `sampler_options` (None: it has none)


def options_for(protocol: Protocol, given: Mapping[str, Any]) -> Any:
    """The protocol's `sampler_options` made from the options given (by their names on the
    command line, without "--"); options it does not declare are refused in one line."""
    declared = protocol.sampler_options
    names = {field.name for field in fields(declared)} if declared else set()
    refused = [f"--{name}" for name in given if name not in names]
    if refused:
        verb = "does" if len(refused) == 1 else "do"
        raise ValueError(f"{', '.join(refused)} {verb} not apply to {protocol.name} sampling")
    return declared(**given) if declared else None


def no_size(request: SampleRequest) -> None:
    """Refuse `--size` where the frames' size is fixed (the model's, or the test videos')."""
    if request.size is not None:
        raise ValueError(
            "--size applies to image models; a video model's frames have the size of its "
            "training data"
        )


class Protocol(_Interface):
    """The interface; implementations are frozen dataclasses holding the protocol's settings.
    The model they are given is an `nn.Module` with what their `model_contract` declares."""

    name: str  # stored in every report
    objective: tuple[str, str]  # (report key, "minimize" or "maximize"): what a sweep optimises
    model_contract: ClassVar[type]  # the typing.Protocol of what it calls on a model
    sampler_options: ClassVar[type | None]  # its own `genvid sample` options (a dataclass)
    # what `genvid sample --out` may write, the first the one a demo asks for: images are
    # still, so an image protocol writes (".png",); a video one (".gif", ".png")
    sample_formats: ClassVar[tuple[str, ...]]

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
