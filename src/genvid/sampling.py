"""Autoregressive sampling in raster order (rows, then columns, then colour channels).

One loop serves every raster model; only how the distribution of the next value is computed
differs. The naive reference recomputes the whole network for every new value (H * W * C
passes). The cached path (Ramachandran et al. 2017, arXiv 1704.06001) keeps every layer's
input maps and computes each layer only at the new pixel: once the pixels before it are fixed,
nothing at that pixel changes again, so about one full pass of work is done in all.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from tqdm import tqdm

# (images drawn so far `[n, C, H, W]`, row, column) -> parameters at that pixel `[n, P*C]`
ParamsAt = Callable[[Tensor, int, int], Tensor]


@torch.no_grad()
def sample_raster(
    params_at: ParamsAt,
    likelihood,
    shape: tuple[int, int, int, int],
    *,
    device: torch.device,
    generator: torch.Generator | None = None,
    progress: bool = False,
    start: Tensor | None = None,
    known: Tensor | None = None,
    given: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Draw images value by value from a raster-causal model.

    Args:
        params_at: the distribution parameters at one pixel given the values drawn so far
            (the model may read any value before it; values after it are zero).
        likelihood: the output distribution (`genvid.nn.likelihoods`).
        shape: `(n, C, H, W)` of the images to draw.
        generator: source of the one uniform number drawn per value, in raster order, so two
            `params_at` that agree draw identical images.
        progress: show a progress bar over rows.
        start: uint8 `[n, C, H, W]` values to begin from (default zeros).
        known: bool `[H, W]`: pixels kept as in `start`, neither drawn nor asked for (a
            multi-scale model's conditioning pixels).
        given: bool `[H, W]`: pixels kept as in `start` (completion): `params_at` is still
            called there once, in raster order, so a cached sampler sees every pixel, but
            nothing is drawn and no random number is used.
        temperature: the logits (every likelihood's parameters) are divided by it before a
            value is drawn; 1.0 draws from the model exactly, lower is more conservative.

    Returns:
        uint8 `[n, C, H, W]`.
    """
    n, channels, height, width = shape
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for name, mask in (("known", known), ("given", given)):
        if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (height, width)):
            raise ValueError(f"{name} must be a bool mask [{height}, {width}]")
    if given is not None and start is None:
        raise ValueError("given pixels need their values in start")
    per_value = likelihood.params_per_value
    x = torch.zeros(shape, dtype=torch.uint8, device=device)
    if start is not None:
        x.copy_(start)
    skip = known.tolist() if known is not None else [[False] * width] * height
    keep = given.tolist() if given is not None else [[False] * width] * height
    for i in tqdm(
        range(height), desc="sampling rows", disable=None if progress else True, leave=False
    ):
        for j in range(width):
            if skip[i][j]:
                continue
            if keep[i][j]:
                params_at(x, i, j)  # a cached sampler computes its layers here
                continue
            for c in range(channels):
                params = params_at(x, i, j)[:, c * per_value : (c + 1) * per_value]
                if temperature != 1.0:
                    params = params / temperature
                x[:, c, i, j] = likelihood.sample(params, generator)[:, 0]
    return x
