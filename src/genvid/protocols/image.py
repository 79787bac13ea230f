"""Exact image likelihood: NLL in nats per image and bits/dim (PixelCNN, PixelRNN family)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor

from genvid.autoregressive.evaluate import evaluate_nll
from genvid.protocols.autoregressive import AutoregressiveModel, AutoregressiveSampling, check_given
from genvid.protocols.base import Sampler, SampleRequest, no_samples, paper_line
from genvid.viz import save_image_grid

EVAL_BATCH = 64  # images per pass: larger batches were slower on the CPU (docs/design.md)
TRAINING_GRID = 16  # images in TensorBoard's sample grid


@runtime_checkable
class ImageModel(AutoregressiveModel, Protocol):
    """What `ImageNLL` calls on a model: log p of images, and a raster sampler of images of
    any size (PixelCNN, the PixelRNNs, the multi-scale PixelRNN)."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """`[B]`: log p of uint8 images `x` `[B, C, H, W]`, in nats."""
        ...

    def sample(
        self,
        n: int,
        size: tuple[int, int],
        *,
        generator: torch.Generator | None = None,
        fast: bool = True,
        compiled: bool = False,
        progress: bool = False,
        temperature: float = 1.0,
        start: Tensor | None = None,
        given: Tensor | None = None,
    ) -> Tensor:
        """uint8 `[n, C, H, W]`; `given` (bool `[H, W]`) pixels keep the values of `start`."""
        ...


@dataclass(frozen=True)
class ImageNLL:
    """Mean NLL over a data split with its standard error, and bits/dim.

    `paper` is the paper's figure for this preset on `paper_data` (nats per image, or bits/dim
    for colour images); it is reported only beside evaluations on that data set.
    """

    paper: dict[str, float] | None = None  # e.g. {"nats_per_image": 81.30}
    paper_data: str = ""  # the data set the paper's figure is for
    name: str = "image-nll"
    objective: tuple[str, str] = ("nll_nats", "minimize")  # what a sweep optimises
    model_contract: ClassVar[type] = ImageModel
    sampler_options: ClassVar[type] = AutoregressiveSampling
    sample_formats: ClassVar[tuple[str, ...]] = (".png",)

    def evaluate(
        self, model: ImageModel, examples: Tensor, *, data: str, batch_size, samples, device, seed
    ) -> dict[str, Any]:
        no_samples(samples)
        figures = evaluate_nll(model, examples, batch_size=batch_size or EVAL_BATCH, device=device)
        report = {**figures, "units": {"nll_nats": "nats per image (summed over all dims)"}}
        if self.paper and data == self.paper_data:
            report["paper"] = self.paper
        return report

    def summary(self, report: dict[str, Any]) -> list[str]:
        lines = [
            f"  NLL          {report['nll_nats']:.2f} +- {report['nll_nats_stderr']:.2f} "
            "nats/image",
            f"  bits/dim     {report['bits_per_dim']:.4f}",
        ]
        if "paper" in report:
            lines.append(f"  paper        {paper_line(report['paper'])}")
        return lines

    def sample(self, model: ImageModel, request: SampleRequest, videos) -> Any:
        if request.steps is not None:
            raise ValueError("--steps applies to video models; an image model draws images")
        options: AutoregressiveSampling = request.options
        completion = options.completion()
        count, size, start, given = request.count, request.size or request.data_size, None, None
        if completion is not None:  # completion: the file's images, the mask's pixels
            start, given = completion
            if start.dim() == 3:  # [N, H, W]: one channel
                start = start[:, None]
            if start.dim() != 4:
                raise ValueError(
                    f"--complete: image models take images [N, C, H, W] or [N, H, W], got "
                    f"{tuple(completion[0].shape)}"
                )
            check_given(model, start)
            start = start.to(model.device)
            count, size = len(start), tuple(start.shape[-2:])
        images = model.sample(
            count,
            size,
            generator=request.generator,
            progress=True,
            start=start,
            given=given,
            **options.sampler_keywords(),
        )
        if start is not None:  # given images above their completions
            images = torch.cat([start.cpu(), images.cpu()])
            return save_image_grid(images, request.out, nrow=count)
        return save_image_grid(images, request.out)

    def training_sampler(self, stream, seed: int) -> Sampler:
        size = tuple(stream.example_shape[-2:])

        def draw(model: ImageModel) -> Tensor:
            generator = torch.Generator(device=model.device).manual_seed(seed)
            return model.sample(TRAINING_GRID, size, generator=generator)

        return draw
