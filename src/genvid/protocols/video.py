"""Exact video likelihood: NLL per predicted frame given context frames (VPN and its baseline).

Kalchbrenner et al. (2017, section 5) score frames 11-20 of Moving MNIST given frames 1-10, in
nats per frame, next to the data's entropy (the lower bound of the sigmoid cross-entropy
against grey levels / 255, 86.3 nats per frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor

from genvid import data as gdata
from genvid.autoregressive.evaluate import evaluate_video_nll
from genvid.protocols.autoregressive import AutoregressiveModel, AutoregressiveSampling, check_given
from genvid.protocols.base import Sampler, SampleRequest, no_samples, no_size, paper_line
from genvid.viz import save_image_grid, save_video_gif

EVAL_BATCH = 8  # videos per pass (CPU-friendly)
TRAINING_VIDEOS, TRAINING_STEPS = 2, 4  # TensorBoard: a few short unconditional videos


@runtime_checkable
class VideoModel(AutoregressiveModel, Protocol):
    """What `VideoNLL` calls on a model: the NLL of frames given context frames, and a sampler
    that continues videos frame by frame (the VPN and its baseline)."""

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-value NLL in nats of frames `x` `[B, T, C, H, W]` given `context`
        `[B, Tc, C, H, W]`; `x`'s shape."""
        ...

    def sample(
        self,
        n: int | None = None,
        size: tuple[int, int] | None = None,
        *,
        context: Tensor | None = None,
        steps: int = 10,
        generator: torch.Generator | None = None,
        fast: bool = True,
        compiled: bool = False,
        progress: bool = False,
        temperature: float = 1.0,
        start: Tensor | None = None,
        given: Tensor | None = None,
    ) -> Tensor:
        """uint8 `[B, steps, C, H, W]` after `context`, or `n` videos of `size` from none;
        `given` (bool `[H, W]`) pixels of the first drawn frame keep the values of `start`."""
        ...


@dataclass(frozen=True)
class VideoNLL:
    """Frames `context+1 .. context+predicted` scored given frames `1 .. context`.

    `entropy_bound`: also report the data's entropy and the excess over it (meaningful for a
    soft-Bernoulli likelihood only, whose minimum it is). `discrete`: bits/dim are reported
    only for a discrete likelihood (a soft-Bernoulli cross-entropy is not a code length).
    `paper` figures (nats per frame) are reported beside evaluations on `paper_data` only.
    """

    context: int = 10
    predicted: int = 10
    entropy_bound: bool = True
    discrete: bool = False
    paper: dict[str, float] | None = None
    paper_data: str = "moving-mnist"
    name: str = "video-nll"
    objective: tuple[str, str] = ("nll_nats_per_frame", "minimize")  # what a sweep optimises
    model_contract: ClassVar[type] = VideoModel
    sampler_options: ClassVar[type] = AutoregressiveSampling
    sample_formats: ClassVar[tuple[str, ...]] = (".gif", ".png")

    def evaluate(
        self, model: VideoModel, examples: Tensor, *, data: str, batch_size, samples, device, seed
    ) -> dict[str, Any]:
        no_samples(samples)
        gdata.check_frames(examples, context=self.context, predicted=self.predicted, source=data)
        videos = examples[:, : self.context + self.predicted]
        figures = evaluate_video_nll(
            model,
            videos,
            context=self.context,
            batch_size=batch_size or EVAL_BATCH,
            device=device,
            entropy_bound=self.entropy_bound,
        )
        if not self.discrete:
            del figures["bits_per_dim"]
        units = "nats per predicted frame (summed over its C*H*W values)"
        report = {**figures, "units": {"nll_nats_per_frame": units}}
        if self.paper and data == self.paper_data:
            report["paper_nats_per_frame"] = self.paper
        return report

    def summary(self, report: dict[str, Any]) -> list[str]:
        first, context = report["context"] + 1, report["context"]
        last = context + report["frames"]
        lines = [
            f"  NLL          {report['nll_nats_per_frame']:.2f} +- "
            f"{report['nll_nats_per_frame_stderr']:.2f} nats/frame (frames {first}-{last} "
            f"given 1-{context})"
        ]
        if "lower_bound_nats_per_frame" in report:
            lines.append(
                f"  lower bound  {report['lower_bound_nats_per_frame']:.2f} nats/frame, "
                f"excess {report['excess_nats_per_frame']:.2f} +- {report['excess_stderr']:.2f}"
            )
        if "bits_per_dim" in report:
            lines.append(f"  bits/dim     {report['bits_per_dim']:.4f}")
        if "paper_nats_per_frame" in report:
            lines.append(f"  paper        {paper_line(report['paper_nats_per_frame'])}")
        return lines

    def sample(self, model: VideoModel, request: SampleRequest, videos) -> Any:
        """Continue the first test videos after `context` frames: a GIF (context, truth and
        sample side by side) or a PNG grid (one video per row). With `--complete`, continue
        the file's videos instead: all frames but the last are the context, and the first
        drawn frame keeps the last one's given pixels (shown in the truth column)."""
        no_size(request)
        steps = request.steps if request.steps is not None else self.predicted
        if steps < 1:
            raise ValueError(f"--steps must be >= 1, got {steps}")
        options: AutoregressiveSampling = request.options
        completion = options.completion()
        start = mask = None
        if completion is not None:  # the file's videos; their last frame is completed
            clips, mask = completion
            context, start = _completion_videos(clips)
            check_given(model, context)
            check_given(model, start)
            truth = torch.zeros(len(start), steps, *start.shape[1:], dtype=torch.uint8)
            truth[:, 0] = start * mask  # the "truth" column shows the given pixels
        else:
            given = videos(request.count)
            gdata.check_frames(given, context=self.context, predicted=steps, source="the test set")
            context = given[:, : self.context]
            truth = given[:, self.context : self.context + steps]
        samples = model.sample(
            context=context.to(model.device),
            steps=steps,
            generator=request.generator,
            progress=True,
            start=start,
            given=mask,
            **options.sampler_keywords(),
        ).cpu()
        if request.out.suffix.lower() == ".gif":
            return save_video_gif(context, truth, samples, request.out)
        rows = torch.cat([context, samples], dim=1)  # (B, Tc + K, C, H, W): one video per row
        return save_image_grid(rows.flatten(0, 1), request.out, nrow=rows.shape[1])

    def training_sampler(self, stream, seed: int) -> Sampler:
        size = tuple(stream.example_shape[-2:])

        def draw(model: VideoModel) -> Tensor:
            generator = torch.Generator(device=model.device).manual_seed(seed)
            return model.sample(TRAINING_VIDEOS, size, steps=TRAINING_STEPS, generator=generator)

        return draw


def _completion_videos(videos: Tensor) -> tuple[Tensor, Tensor]:
    """`--complete` videos `[N, T, (C,) H, W]` -> the context (all frames but the last) and
    the last frame, whose given pixels the first drawn frame keeps."""
    if videos.dim() == 4:  # [N, T, H, W]: one channel
        videos = videos[:, :, None]
    if videos.dim() != 5 or videos.shape[1] < 2:
        raise ValueError(
            "--complete: video models take videos [N, T, C, H, W] or [N, T, H, W] with T >= 2 "
            f"(context frames, then the frame to complete), got {tuple(videos.shape)}"
        )
    return videos[:, :-1], videos[:, -1]
