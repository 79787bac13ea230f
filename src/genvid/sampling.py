"""Autoregressive sampling in raster order (rows, then columns, then colour channels).

One loop serves every raster model; only how the distribution of the next value is computed
differs. The naive reference recomputes the whole network for every new value (H * W * C
passes). The cached path (Ramachandran et al. 2017, arXiv 1704.06001) keeps every layer's
input maps and computes each layer only at the new pixel: once the pixels before it are fixed,
nothing at that pixel changes again, so about one full pass of work is done in all.

`RasterCache` is that bookkeeping, shared by every model: the padded buffers, copying newly
drawn values in, and computing the pixels a sampler skipped. A model supplies only its layers
at one pixel (`pixel(i, j)`, reading and writing the cache's buffers). `compiled_draw_at`
fuses a pixel's layers, the draw of a value and its store into the cache into one graph
(`torch.compile`): at batch 1 a value costs well under a millisecond, so what is not in that
graph (Python dispatch of each small operation) is most of the time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm import tqdm

# (images drawn so far `[n, C, H, W]`, row, column) -> parameters at that pixel `[n, P*C]`
ParamsAt = Callable[[Tensor, int, int], Tensor]
# (images drawn so far, row, column, colour, uniform numbers from the likelihood's `uniform`)
# -> the values drawn there `[n]` (uint8)
DrawAt = Callable[[Tensor, int, int, int, Tensor], Tensor]


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

    def params_at(self, pixel: Callable[[int, int], Tensor]) -> ParamsAt:
        """The sampler's `params_at` from the model's `pixel(i, j)` (parameters at (i, j),
        every layer computed there from the buffers, its own outputs written into them).

        A call at (i, j) copies in the rows from the previous call's on (that pixel's later
        colours, and any pixels skipped since, are new), computes every skipped pixel in
        raster order (a multi-scale model's known pixels), then (i, j) itself; a second call
        at (i, j) (its next colour) computes it again. A pixel is never recomputed once the
        sampler has moved on: no layer's output at (i, j) depends on the last colour drawn
        there (at the centre, mask A passes a colour's value only to later colour groups,
        and the last colour has none).
        """

        def params_at(x: Tensor, i: int, j: int) -> Tensor:
            self._catch_up(x, i, j, pixel, copy=True)
            return pixel(i, j)

        return params_at

    def compiled_draw_at(
        self, pixel: Callable[[Tensor, Tensor], Tensor], likelihood, *, temperature: float = 1.0
    ) -> DrawAt:
        """The sampler's `draw_at`: one `torch.compile`d step per value that computes every
        layer at the pixel, draws the value and stores it in the cache (so the drawn image is
        never copied in; given pixels come in through `params_at`).

        i, j and the colour reach the step as 0-d tensors, so one graph serves every value
        (Python ints would be specialised on: one graph per column). `pixel` must index with
        tensors only (`genvid.nn.masked.read_at`, `write_at`, `MaskedConv2d.forward_at` do),
        and the model's masked kernels must be prepared (`genvid.nn.masked.
        prepare_pixel_weights`). The first call compiles (seconds). Eager sampling keeps
        `params_at`: with ints its slices are fewer calls than the step's gathers.
        """
        m, channels = self.margin, self.data.shape[-1]

        def step(i: Tensor, j: Tensor, c: Tensor, u: Tensor) -> Tensor:
            params = pixel(i, j).unflatten(1, (channels, -1))  # (n, C, P)
            params = params.index_select(1, c.reshape(1))[:, 0]
            if temperature != 1.0:
                params = params / temperature
            value = likelihood.draw(params, u)[:, 0]  # (n,) uint8
            position = ((i + m) * self.data.shape[2] + (j + m)) * channels + c
            flat = self.data.view(self.n, -1)
            flat.index_copy_(1, position.reshape(1), self._scale(value)[:, None])
            return value

        # The inputs are made here with fixed shapes: inductor's check of every input's size
        # and stride at each call would cost about a tenth of a vpn-micro value.
        compiled_step = torch.compile(step, dynamic=False, options={"size_asserts": False})
        device = self.data.device
        # One 0-d tensor per row, column and colour, made once; never one object in two roles
        # (an alias would be a new case for dynamo's guards).
        rows, cols, colours = (
            [torch.tensor(k, device=device) for k in range(count)]
            for count in (self.height, self.width, channels)
        )
        checked = False

        def run(i: int, j: int, c: int, u: Tensor) -> Tensor:
            nonlocal checked
            if not checked:  # the first call: every guard, so the right graph is found
                checked = True
                return compiled_step(rows[i], cols[j], colours[c], u)
            with _unguarded():
                return compiled_step(rows[i], cols[j], colours[c], u)

        def draw_at(x: Tensor, i: int, j: int, c: int, u: Tensor) -> Tensor:
            # Nothing to copy in: a drawn value is stored by the step, and `sample_raster`
            # visits given pixels with `params_at`, which copies them in, in raster order.
            self._catch_up(x, i, j, pixel, copy=False)
            return run(i, j, c, u)

        return draw_at

    def _catch_up(self, x: Tensor, i: int, j: int, pixel: Callable, *, copy: bool) -> None:
        """Before (i, j): copy in the rows drawn since the last call (if `copy`), compute
        the pixels skipped since (eagerly, in raster order)."""
        index = i * self.width + j
        if index < self._last:
            raise ValueError(f"pixel ({i}, {j}) asked for after a later one: not raster order")
        m, top = self.margin, max(self._last, 0) // self.width
        if copy:
            rows = self._scale(x[:, :, top : i + 1]).permute(0, 2, 3, 1)
            self.data[:, top + m : i + m + 1, m : m + self.width] = rows
        for skipped in range(self._last + 1, index):
            pixel(*divmod(skipped, self.width))
        self._last = index


def _unguarded() -> contextlib.AbstractContextManager:
    """Dynamo's guards skipped but for those that tell cached graphs apart: a step's later
    calls differ from its first only in the values of the tensors made for it, and checking
    every parameter's metadata at every value costs more than a vpn-micro layer. Older torch
    (no `skip_guard_eval_unsafe`): checked as usual."""
    try:
        return torch.compiler.set_stance(skip_guard_eval_unsafe=True)
    except (AttributeError, TypeError):
        return contextlib.nullcontext()


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
    draw_at: DrawAt | None = None,
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
        draw_at: a cached sampler's compiled step (`RasterCache.compiled_draw_at`, made with
            the same likelihood and temperature): values are drawn through it, and
            `params_at` is called only at given pixels.

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
    uniform_like = torch.empty(n, per_value, device=device)  # one value's parameters
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
                if draw_at is not None:
                    u = likelihood.uniform(uniform_like, generator)
                    x[:, c, i, j] = draw_at(x, i, j, c, u)
                    continue
                params = params_at(x, i, j)[:, c * per_value : (c + 1) * per_value]
                if temperature != 1.0:
                    params = params / temperature
                x[:, c, i, j] = likelihood.sample(params, generator)[:, 0]
    return x
