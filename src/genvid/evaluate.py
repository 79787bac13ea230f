"""Exact likelihood evaluation: NLL in nats per example and bits per dimension.

Always float32 (or the model's float64), never autocast: the numbers reported are the ones
the model defines, not those of a reduced-precision forward pass.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from tqdm import tqdm


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
    """
    if data.shape[0] == 0:
        raise ValueError("cannot evaluate on an empty data set")
    was_training = model.training
    model.eval()
    per_example = []
    try:
        for chunk in tqdm(data.split(batch_size), desc="evaluating", disable=not progress):
            per_example.append(-model.log_prob(chunk.to(device)).double().cpu())
    finally:
        model.train(was_training)
    nats = torch.cat(per_example)
    dims = int(data[0].numel())
    mean = nats.mean().item()
    stderr = nats.std().item() / math.sqrt(len(nats)) if len(nats) > 1 else float("nan")
    return {
        "nll_nats": mean,
        "nll_nats_stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, dims),
        "count": len(nats),
        "dims": dims,
    }
