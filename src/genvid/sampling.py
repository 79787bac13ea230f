"""Autoregressive sampling in raster order (rows, then columns, then colour channels).

One loop serves every raster model; only how the distribution of the next value is computed
differs. The naive reference recomputes the whole network for every new value (H * W * C
passes). The cached path (Ramachandran et al. 2017, arXiv 1704.06001) keeps every layer's
input maps and computes each layer only at the new pixel: once the pixels before it are fixed,
nothing at that pixel changes again, so about one full pass of work is done in all.

`RasterCache` is that bookkeeping, shared by every model: the padded buffers, copying newly
drawn values in, and computing the pixels a sampler skipped. A model supplies only its layers
at one pixel (`pixel(i, j)`, reading and writing the cache's buffers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

# (images drawn so far `[n, C, H, W]`, row, column) -> parameters at that pixel `[n, P*C]`
ParamsAt = Callable[[Tensor, int, int], Tensor]


class RasterCache:
    """The state of a cached raster sampler: the values drawn so far and each layer's inputs.

    Buffers are channels last, `[n, H + margin, W + 2 * margin, channels]`, zero-padded by
    `margin` rows on top and `margin` columns left and right: the layout
    `genvid.nn.masked.MaskedConv2d.forward_at` reads. `data` holds the drawn values, scaled.

    Args:
        n, size: images and their `(H, W)`.
        channels: colour channels of the data.
        margin: the largest reach of any layer's kernel (k // 2 for a k x k kernel).
        scale: uint8 values `[n, C, rows, W]` -> the network's input (same shape).
        like: a tensor of the network's dtype and device.
    """

    def __init__(
        self,
        n: int,
        size: tuple[int, int],
        channels: int,
        margin: int,
        scale: Callable[[Tensor], Tensor],
        like: Tensor,
    ) -> None:
        self.n, (self.height, self.width), self.margin = n, size, margin
        self._scale, self._like = scale, like
        self.data = self.buffer(channels)
        self._last = -1  # raster index of the latest pixel computed

    def buffer(self, channels: int) -> Tensor:
        """A zero buffer of `channels` maps in the cache's padded layout."""
        shape = (self.n, self.height + self.margin, self.width + 2 * self.margin, channels)
        return self._like.new_zeros(shape)

    def params_at(self, pixel: Callable[[Any, Any], Tensor], *, compiled: bool = False) -> ParamsAt:
        """The sampler's `params_at` from the model's `pixel(i, j)` (parameters at (i, j),
        every layer computed there from the buffers, its own outputs written into them).

        A call at (i, j) copies in the rows from the previous call's on (that pixel's later
        colours, and any pixels skipped since, are new), computes every skipped pixel in
        raster order (a multi-scale model's known pixels), then (i, j) itself; a second call
        at (i, j) (its next colour) computes it again. A pixel is never recomputed once the
        sampler has moved on: no layer's output at (i, j) depends on the last colour drawn
        there (at the centre, mask A passes a colour's value only to later colour groups,
        and the last colour has none).

        `compiled`: run `pixel` through `torch.compile`, with i and j passed as 0-d tensors so
        that one graph serves every pixel (Python ints would be specialised on, one graph per
        column). `pixel` must then index with tensors only (`genvid.nn.masked.read_at`,
        `write_at`, `MaskedConv2d.forward_at` do); the first call compiles (seconds).
        """
        m, width = self.margin, self.width
        if compiled:
            step = torch.compile(pixel, dynamic=False)
            device = self.data.device
            run = lambda i, j: step(  # noqa: E731
                torch.tensor(i, device=device), torch.tensor(j, device=device)
            )
        else:
            run = pixel

        def params_at(x: Tensor, i: int, j: int) -> Tensor:
            index = i * width + j
            if index < self._last:
                raise ValueError(f"pixel ({i}, {j}) asked for after a later one: not raster order")
            top = max(self._last, 0) // width
            rows = self._scale(x[:, :, top : i + 1]).permute(0, 2, 3, 1)
            self.data[:, top + m : i + m + 1, m : m + width] = rows
            for skipped in range(self._last + 1, index):
                run(*divmod(skipped, width))
            self._last = index
            return run(i, j)

        return params_at


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
