"""Exact likelihood evaluation: NLL in nats per example and bits per dimension.

Always float32 (or the model's float64), never autocast: the numbers reported are the ones
the model defines, not those of a reduced-precision forward pass.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from tqdm import tqdm

from genvid.models.base import eval_mode


class NonFiniteResultError(ValueError):
    """The model's NLL is NaN or infinite on some examples: there is no figure to report."""


def _require_finite(nats: Tensor) -> None:
    bad = ~torch.isfinite(nats)
    if bad.any():
        raise NonFiniteResultError(
            f"the NLL is {nats[bad][0].item()} on {int(bad.sum())} of {len(nats)} examples; "
            "the weights or predictions are not finite, so no figure was written"
        )


def bits_per_dim(nats: float, dims: int) -> float:
    """Convert nats per example to bits per dimension: nats / (dims * ln 2)."""
    return nats / (dims * math.log(2.0))


@torch.no_grad()
def evaluate_nll(
    model,
    data: Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict[str, float]:
    """Mean NLL of `data` under `model`, per example, with its standard error.

    Args:
        model: a likelihood model (`log_prob` contract).
        data: uint8 examples `[N, ...]`.

    Returns:
        `nll_nats` (mean nats per example), `nll_nats_stderr`, `bits_per_dim`, `count`, `dims`.

    Raises:
        NonFiniteResultError: the NLL of some example is NaN or infinite.
    """
    if data.shape[0] == 0:
        raise ValueError("cannot evaluate on an empty data set")
    per_example = []
    with eval_mode(model):
        for chunk in tqdm(
            data.split(batch_size), desc="evaluating", disable=None if progress else True
        ):
            per_example.append(-model.log_prob(chunk.to(device)).double().cpu())
    nats = torch.cat(per_example)
    _require_finite(nats)
    dims = int(data[0].numel())
    mean, stderr = _mean_and_stderr(nats)
    return {
        "nll_nats": mean,
        "nll_nats_stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, dims),
        "count": len(nats),
        "dims": dims,
    }


@torch.no_grad()
def evaluate_video_nll(
    model,
    videos: Tensor,
    *,
    context: int = 10,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    progress: bool = True,
    entropy_bound: bool = False,
) -> dict[str, float]:
    """Mean NLL per predicted frame of videos under a video likelihood model.

    Frames `context+1..T` are scored given frames `1..context` (the Moving MNIST protocol:
    11-20 given 1-10; Kalchbrenner et al. 2017, arXiv 1610.00527, section 5). A frame's NLL
    is summed over its C*H*W values, in nats; the figure is its mean over the predicted frames
    and the videos, with the standard error over videos.

    Args:
        model: a video likelihood model (`nll(x, context)` contract).
        videos: uint8 `[N, T, C, H, W]`.
        context: frames given, not scored.
        entropy_bound: also report the data's entropy (the lower bound of the sigmoid
            cross-entropy against x / 255, `genvid.data.entropy_per_sequence`) and the excess
            over it; only meaningful for soft-Bernoulli models.

    Returns:
        `nll_nats_per_frame`, `nll_nats_per_frame_stderr`, `bits_per_dim`, `count`, `context`,
        `frames` (predicted per video), `dims_per_frame`; with `entropy_bound` also
        `lower_bound_nats_per_frame`, `lower_bound_stderr`, `excess_nats_per_frame` and
        `excess_stderr` (the standard error of the per-video differences).
    """
    if videos.dim() != 5 or videos.dtype != torch.uint8:
        raise ValueError(
            f"expected uint8 videos [N, T, C, H, W], got {videos.dtype} {tuple(videos.shape)}"
        )
    if videos.shape[0] == 0:
        raise ValueError("cannot evaluate on an empty data set")
    if not 0 <= context < videos.shape[1]:
        raise ValueError(f"context must be in [0, T) with T = {videos.shape[1]}, got {context}")
    per_video = []
    with eval_mode(model):
        for chunk in tqdm(
            videos.split(batch_size), desc="evaluating", disable=None if progress else True
        ):
            chunk = chunk.to(device)
            given = chunk[:, :context] if context else None
            nats = model.nll(chunk[:, context:], given).double()  # (b, T - context, C, H, W)
            per_video.append(nats.sum(dim=(2, 3, 4)).mean(dim=1).cpu())
    nats = torch.cat(per_video)
    _require_finite(nats)
    dims = int(videos[0, 0].numel())
    mean, stderr = _mean_and_stderr(nats)
    figures = {
        "nll_nats_per_frame": mean,
        "nll_nats_per_frame_stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, dims),
        "count": len(nats),
        "context": context,
        "frames": videos.shape[1] - context,
        "dims_per_frame": dims,
    }
    if entropy_bound:
        from genvid.data import entropy_per_sequence

        bound = torch.from_numpy(entropy_per_sequence(videos, context))
        figures["lower_bound_nats_per_frame"], figures["lower_bound_stderr"] = _mean_and_stderr(
            bound
        )
        excess = _mean_and_stderr(nats - bound)
        figures["excess_nats_per_frame"], figures["excess_stderr"] = excess
    return figures


def _mean_and_stderr(values: Tensor) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n)) over examples."""
    stderr = values.std().item() / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return values.mean().item(), stderr
