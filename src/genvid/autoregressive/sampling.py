"""Autoregressive sampling in raster order (rows, then columns, then colour channels).

The naive reference recomputes the whole network for every new value (H * W * C passes). The
cached path (Ramachandran et al. 2017, arXiv 1704.06001) keeps every layer's input maps and
computes each layer only at the new pixel: once the pixels before it are fixed, nothing at
that pixel changes again, so about one full pass of work is done in all.

`RasterCache` is that bookkeeping, shared by every model: the padded buffers, copying newly
drawn values in, and computing the pixels a sampler skipped. A model supplies only its layers
at one pixel (`pixel(i, j)`, reading and writing the cache's buffers).

`sample_wavefront` draws from a convolutional model (PixelCNN, the VPN decoder) many pixels
per step. A masked layer at (i, j) reads the rows above only up to `margin` columns to the
right, so pixel (i, j) waits only for (i, j - 1) and (i - 1, j + margin): every pixel with
`j + (margin + 1) * i = t` can be computed in step t, as one batch (a wavefront: each row
shifted right by margin + 1 more than the one above, as the Diagonal BiLSTM skews its input
by one, van den Oord et al. 2016). A 64 x 64 frame with margin 3 takes 316 steps instead
of 4,096; at batch 1 a step costs a few times what a pixel did, since the time of small
frames goes to the dispatch of small operations, not to arithmetic.

Every sampler uses one uniform number per value, drawn up front in raster order, so that the
order of the work does not change which number a value gets: naive, cached and wavefront
samplers draw identical values from one generator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm import tqdm

# (images drawn so far `[n, C, H, W]`, row, column) -> parameters at that pixel `[n, P*C]`
ParamsAt = Callable[[Tensor, int, int], Tensor]
# (rows, columns) as ints, 0-d or `[K]` integer tensors -> parameters `[n (* K), P*C]`,
# every layer computed there from the cache's buffers and written into them
Pixel = Callable


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

    def params_at(self, pixel: Pixel) -> ParamsAt:
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
            self._catch_up(x, i, j, pixel)
            return pixel(i, j)

        return params_at

    def _catch_up(self, x: Tensor, i: int, j: int, pixel: Pixel) -> None:
        """Before (i, j): copy in the rows drawn since the last call, compute the pixels
        skipped since (in raster order)."""
        index = i * self.width + j
        if index < self._last:
            raise ValueError(f"pixel ({i}, {j}) asked for after a later one: not raster order")
        m, top = self.margin, max(self._last, 0) // self.width
        rows = self._scale(x[:, :, top : i + 1]).permute(0, 2, 3, 1)
        self.data[:, top + m : i + m + 1, m : m + self.width] = rows
        for skipped in range(self._last + 1, index):
            pixel(*divmod(skipped, self.width))
        self._last = index


def _unguarded() -> contextlib.AbstractContextManager:
    """Dynamo's guards skipped but for those that tell cached graphs apart: a step's later
    calls differ from its first only in the values of the tensors made for it, and checking
    every parameter's metadata at every step costs more than a small model's layer. Older
    torch (no `skip_guard_eval_unsafe`): checked as usual."""
    try:
        return torch.compiler.set_stance(skip_guard_eval_unsafe=True)
    except (AttributeError, TypeError):
        return contextlib.nullcontext()


def sample_cached_or_naive(
    likelihood,
    shape: tuple[int, int, int, int],
    *,
    fast: bool,
    compiled: bool,
    raster_step: Callable[[], tuple[RasterCache, Pixel]],
    naive_params_at: ParamsAt,
    device: torch.device,
    **options,
) -> Tensor:
    """A masked convolutional model's sampler: wavefront steps on the cache and per-pixel
    layers `raster_step()` makes (`fast`, `compiled` or not), or the naive reference. Both
    draw the same values; `options`: generator, progress, start, given, temperature."""
    if fast:
        return sample_wavefront(*raster_step(), likelihood, compiled=compiled, **options)
    if compiled:
        raise ValueError("compiled sampling is for the cached sampler, not the naive one")
    return sample_raster(naive_params_at, likelihood, shape, device=device, **options)


def _prepare(
    likelihood,
    shape: tuple[int, int, int, int],
    device: torch.device,
    generator: torch.Generator | None,
    start: Tensor | None,
    given: Tensor | None,
    known: Tensor | None = None,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """The arguments every sampler shares, checked: the images to fill (uint8, from `start`),
    the pixels to draw (bool `[H, W]`) and their values' uniform numbers, `[H, W, C, ...]`
    (zero where nothing is drawn; each `[n, ...]` as `likelihood.uniform` gives one value's).
    The numbers are drawn in one call, in raster order, so the same generator gives every
    sampler the same number for each value, whatever order it computes them in."""
    n, channels, height, width = shape
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for name, mask in (("known", known), ("given", given)):
        if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (height, width)):
            raise ValueError(f"{name} must be a bool mask [{height}, {width}]")
    if given is not None and start is None:
        raise ValueError("given pixels need their values in start")
    x = torch.zeros(shape, dtype=torch.uint8, device=device)
    if start is not None:
        x.copy_(start)
    drawn = torch.ones(height, width, dtype=torch.bool, device=device)
    for mask in (known, given):
        if mask is not None:
            drawn &= ~mask.to(device)
    count = int(drawn.sum()) * channels
    like = torch.empty(count * n, likelihood.params_per_value, device=device)  # n per value
    drawn_u = likelihood.uniform(like, generator).unflatten(0, (-1, channels, n))
    u = drawn_u.new_zeros(height, width, *drawn_u.shape[1:])
    u[drawn] = drawn_u
    return x, drawn, u


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
        generator: source of the one uniform number per drawn value, all drawn first in
            raster order, so two `params_at` that agree draw identical images.
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
    x, drawn, u = _prepare(likelihood, shape, device, generator, start, given, known, temperature)
    per_value = likelihood.params_per_value
    skip = known.tolist() if known is not None else [[False] * width] * height
    draw = drawn.tolist()
    for i in tqdm(
        range(height), desc="sampling rows", disable=None if progress else True, leave=False
    ):
        for j in range(width):
            if skip[i][j]:
                continue
            if not draw[i][j]:  # given
                params_at(x, i, j)  # a cached sampler computes its layers here
                continue
            for c in range(channels):
                params = params_at(x, i, j)[:, c * per_value : (c + 1) * per_value]
                if temperature != 1.0:
                    params = params / temperature
                x[:, c, i, j] = likelihood.draw(params, u[i, j, c])[:, 0]
    return x


@torch.no_grad()
def sample_wavefront(
    cache: RasterCache,
    pixel: Pixel,
    likelihood,
    *,
    generator: torch.Generator | None = None,
    progress: bool = False,
    start: Tensor | None = None,
    given: Tensor | None = None,
    temperature: float = 1.0,
    compiled: bool = False,
) -> Tensor:
    """Draw the cache's images from a convolutional raster model, a wavefront of pixels per
    step (module docstring): the values `sample_raster` draws from the same generator.

    Args:
        cache: a new cache of the images to draw; `margin` must bound every layer's reach.
        pixel: the model's layers at `[K]` pixels at once (`MaskedConv2d.forward_at`), which
            must not read each other's outputs (true for masked convolutions of reach
            <= margin).
        compiled: run each step through `torch.compile` (one graph for every step of every
            frame; the first call compiles, seconds; the model's masked kernels must be
            prepared, `genvid.nn.masked.prepare_pixel_weights`). Steps are padded to one
            size by repeating a pixel of the step, which computes and stores the same values
            twice.
        generator, progress, start, given, temperature: as `sample_raster` (given pixels are
            computed, then kept).

    Returns:
        uint8 `[n, C, H, W]`.
    """
    n, (height, width), channels = cache.n, (cache.height, cache.width), cache.data.shape[-1]
    shape, device = (n, channels, height, width), cache.data.device
    x, drawn, u = _prepare(likelihood, shape, device, generator, start, given, None, temperature)
    step = _wavefront_step(cache, pixel, likelihood, temperature)
    if compiled:
        step = _compiled(step)
    skew = cache.margin + 1
    widest = min(height, -(-width // skew))  # the most pixels in one step
    colours = [torch.tensor(c, device=device) for c in range(channels)]
    for t in tqdm(
        range(width + skew * (height - 1)),
        desc="sampling",
        disable=None if progress else True,
        leave=False,
    ):
        rows = torch.arange(max(0, -(-(t - width + 1) // skew)), min(height, t // skew + 1))
        if compiled and len(rows) < widest:
            rows = torch.cat([rows, rows[:1].expand(widest - len(rows))])
        i, j = rows.to(device), (t - skew * rows).to(device)
        keep = ~drawn[i, j]
        for c in range(channels):
            u_c = u[i, j, c].transpose(0, 1).flatten(0, 1)  # (n * K, ...): batch-major
            x[:, c, i, j] = step(i, j, colours[c], u_c, keep, x[:, c, i, j])
    return x


def _wavefront_step(cache: RasterCache, pixel: Pixel, likelihood, temperature: float):
    """One step of `sample_wavefront` at one colour: every layer at the step's K pixels, the
    values drawn (or kept, where given), stored in the cache. Indexing with tensors only, so
    `torch.compile` makes one graph for every step."""
    m, n, channels = cache.margin, cache.n, cache.data.shape[-1]

    def step(i: Tensor, j: Tensor, c: Tensor, u: Tensor, keep: Tensor, kept: Tensor) -> Tensor:
        params = pixel(i, j).unflatten(1, (channels, -1))  # (n * K, C, P)
        params = params.index_select(1, c.reshape(1))[:, 0]
        if temperature != 1.0:
            params = params / temperature
        value = likelihood.draw(params, u)[:, 0].view(n, -1)  # (n, K) uint8
        value = torch.where(keep, kept, value)
        position = ((i + m) * cache.data.shape[2] + (j + m)) * channels + c
        cache.data.view(n, -1).index_copy_(1, position, cache._scale(value))
        return value

    return step


def _compiled(step: Callable) -> Callable:
    """`step` through `torch.compile`, its later calls with dynamo's guards skipped.

    The inputs are made with fixed shapes: inductor's check of every input's size and stride
    at each call (`size_asserts`) would cost about a tenth of a small step."""
    compiled_step = torch.compile(step, dynamic=False, options={"size_asserts": False})
    checked = False

    def run(*args: Tensor) -> Tensor:
        nonlocal checked
        if not checked:  # the first call: every guard, so the right graph is found
            checked = True
            return compiled_step(*args)
        with _unguarded():
            return compiled_step(*args)

    return run
