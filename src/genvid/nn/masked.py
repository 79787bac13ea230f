"""Masked convolutions for raster-order autoregressive models.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", 2016,
arXiv 1601.06759, section 3.4 ("Masked Convolution"): mask A (first layer) lets a colour
group at the centre pixel see only the colours before it; mask B (every later layer) also lets
it see itself. Every pixel above, and to the left on the same row, is visible to all groups.

Colour groups: with `color_groups = G`, channel `c` of a layer with `n` channels belongs to
group `c * G // n` (contiguous blocks; sizes differ by at most one when `G` does not divide
`n`). With `G = 1` there are no colour constraints at the centre beyond A/B.

A kernel may be rectangular, `kernel_size=(kh, kw)` with both odd: the Row LSTM's masked
k x 1 input-to-state convolution over a row is `(1, k)`. `out_blocks = b` splits the output
channels into `b` equal blocks, each colour-grouped on its own (the four gates of an LSTM,
each grouped like the hidden state they update).

`forward_at` computes one output pixel from a cache of the input, which is all a raster
sampler needs once the pixels before it are fixed (Ramachandran et al. 2017, arXiv 1704.06001).

Deviations: none in the mask. For speed, the rows below the centre, which a causal mask
always zeroes, are cropped from the stored kernel: a k x k kernel is kept as (k//2 + 1) x k
and padded on top only (1.5x fewer multiply-adds for 3x3, 1.75x for 7x7). At pixels given
as index tensors (`forward_at`) the taps right of the centre on its row, zero too, are left
out as well.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MaskType = Literal["A", "B"]
KernelSize = int | tuple[int, int]


def kernel_pair(kernel_size: KernelSize) -> tuple[int, int]:
    """`(height, width)` of a kernel given as `k` or `(kh, kw)`."""
    if isinstance(kernel_size, int):
        return kernel_size, kernel_size
    height, width = kernel_size
    return int(height), int(width)


def channel_groups(num_channels: int, color_groups: int) -> Tensor:
    """Colour group of each channel: `c * G // n`. Shape: `[num_channels]`."""
    return torch.arange(num_channels) * color_groups // num_channels


def causal_mask(
    out_channels: int,
    in_channels: int,
    kernel_size: KernelSize,
    mask_type: MaskType,
    color_groups: int = 1,
    *,
    out_blocks: int = 1,
) -> Tensor:
    """Full `[out, in, kh, kw]` 0/1 mask of a raster-order masked convolution."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if out_blocks < 1 or out_channels % out_blocks:
        raise ValueError(f"out_blocks={out_blocks} does not divide out_channels={out_channels}")
    height, width = kernel_pair(kernel_size)
    row, col = height // 2, width // 2
    mask = torch.zeros(out_channels, in_channels, height, width)
    mask[:, :, :row, :] = 1  # rows above
    mask[:, :, row, :col] = 1  # left on the centre row
    block_group = channel_groups(out_channels // out_blocks, color_groups)
    out_group = block_group.repeat(out_blocks)[:, None]
    in_group = channel_groups(in_channels, color_groups)[None, :]
    seen = in_group < out_group if mask_type == "A" else in_group <= out_group
    mask[:, :, row, col] = seen.float()
    return mask


def _positions(i: Tensor, j: Tensor, width: int) -> Tensor:
    """Flat indices `i * width + j` of one pixel (0-d i, j) or of K pixels (`[K]` each)."""
    return (i * width + j).reshape(-1)


def write_at(padded: Tensor, i: int | Tensor, j: int | Tensor, margin: int, value: Tensor) -> None:
    """Store `value` at pixel (i, j) of a padded channels-last buffer (the layout of
    `MaskedConv2d.forward_at`). i, j: ints or 0-d integer tensors (`value` `[B, C]`), or `[K]`
    integer tensors of K pixels (`value` `[B * K, C]`, batch-major, as `read_at` returns)."""
    if isinstance(i, int) and isinstance(j, int):
        padded[:, i + margin, j + margin] = value
        return
    position = _positions(i + margin, j + margin, padded.shape[2])
    padded.flatten(1, 2).index_copy_(1, position, value.view(padded.shape[0], -1, value.shape[1]))


def read_at(maps: Tensor, i: int | Tensor, j: int | Tensor) -> Tensor:
    """`maps[:, i, j]` of channels-last `[B, H, W, C]` maps: `[B, C]` for ints or 0-d integer
    tensors, `[B * K, C]` (batch-major) for `[K]` integer tensors of K pixels."""
    if isinstance(i, int) and isinstance(j, int):
        return maps[:, i, j]
    return maps.flatten(1, 2).index_select(1, _positions(i, j, maps.shape[2])).flatten(0, 1)


class MaskedConv2d(nn.Module):
    """A causal k x k convolution (mask A or B, with colour groups), same output size.

    Args:
        in_channels, out_channels: feature maps in and out.
        kernel_size: odd k, or odd `(kh, kw)`.
        mask_type: "A" (centre pixel sees only earlier colour groups) or "B" (also its own).
        color_groups: number of colour groups G (1 for grey/binary data, 3 for RGB).
        dilation: spacing of the kernel taps.
        out_blocks: output channels form this many equal blocks, each colour-grouped alone.

    Shape: `[B, in, H, W] -> [B, out, H, W]`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: KernelSize,
        mask_type: MaskType,
        *,
        color_groups: int = 1,
        dilation: int = 1,
        bias: bool = True,
        out_blocks: int = 1,
    ) -> None:
        super().__init__()
        height, width = kernel_pair(kernel_size)
        if height % 2 != 1 or width % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if mask_type == "A" and height == width == 1 and color_groups == 1:
            raise ValueError("a 1x1 mask-A convolution with one colour group sees nothing")
        self.kernel_size, self.mask_type, self.dilation = kernel_size, mask_type, dilation
        self.kernel_height, self.kernel_width = height, width
        self.color_groups, self.out_blocks = color_groups, out_blocks
        rows = height // 2 + 1  # the rows a causal mask can leave non-zero
        full = causal_mask(
            out_channels, in_channels, kernel_size, mask_type, color_groups, out_blocks=out_blocks
        )
        mask = full[:, :, :rows, :].contiguous()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, rows, width))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        # An all-ones mask (e.g. a 1x1 mask-B conv with one group) costs nothing to skip.
        self.register_buffer("mask", None if bool(mask.all()) else mask, persistent=False)
        # `forward_at` with index tensors gathers the taps up to the centre in raster order:
        # the later ones (right of the centre on its row) are zero under either mask (1/6 of
        # a cropped 3x3). With ints it slices every tap: one call fewer than dropping them.
        self.live_taps = (rows - 1) * width + width // 2 + 1
        # Row and column of each of those taps from the top-left one, in (row, column)
        # order: `forward_at` gathers a pixel's neighbourhood with them.
        taps = torch.arange(self.live_taps)
        self.register_buffer("tap_rows", taps // width * dilation, persistent=False)
        self.register_buffer("tap_cols", taps % width * dilation, persistent=False)
        self._pixel_weight_key: tuple | None = None  # see `_pixel_weight`
        self._pixel_weight_cache: Tensor | None = None
        fan_in = int(full[0].numel())  # initialise as the full k x k convolution would
        bound = 1.0 / fan_in**0.5
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
        with torch.no_grad():
            self.weight.mul_(mask)

    def masked_weight(self) -> Tensor:
        """The cropped kernel with the mask applied: `[out, in, k//2 + 1, k]`."""
        return self.weight if self.mask is None else self.weight * self.mask

    def full_weight(self) -> Tensor:
        """The masked kernel zero-padded back to `[out, in, kh, kw]` (reference form)."""
        missing = self.kernel_height - self.weight.shape[2]
        return F.pad(self.masked_weight(), (0, 0, 0, missing))

    def forward(self, x: Tensor) -> Tensor:
        reach = self.dilation * (self.kernel_height // 2)
        if reach:  # zero rows on top only: the cropped kernel ends at the centre row
            x = F.pad(x, (0, 0, reach, 0))  # (B, in, H, W) -> (B, in, reach + H, W)
        side = self.dilation * (self.kernel_width // 2)
        return F.conv2d(
            x, self.masked_weight(), self.bias, padding=(0, side), dilation=self.dilation
        )

    def forward_at(self, padded: Tensor, i: int | Tensor, j: int | Tensor, margin: int) -> Tensor:
        """The output at pixel (i, j) alone, for cached sampling.

        Args:
            padded: the input, channels last, `[B, H + margin, W + 2 * margin, in]`: zero-padded
                by `margin` rows on top and `margin` columns left and right; only pixels
                before (i, j) and the centre's visible colour groups need to be valid.
            i, j: the pixel, as ints (sliced: the fewest calls in eager mode) or as 0-d
                integer tensors (gathered with `tap_rows`, `tap_cols`: the step has no Python
                value to specialise on, so `torch.compile` makes one graph for all pixels);
                or `[K]` integer tensors: K pixels at once, none of which may read another's
                output (a wavefront, `genvid.autoregressive.sampling.sample_wavefront`).

        Returns: `[B, out]`, or `[B * K, out]` (batch-major) for K pixels.
        """
        step = self.dilation
        top = i + margin - step * (self.kernel_height // 2)
        left = j + margin - step * (self.kernel_width // 2)
        weight = self._pixel_weight()
        if isinstance(i, int) and isinstance(j, int):  # eager: slicing is the fewest calls
            right = left + step * (self.kernel_width - 1) + 1
            patch = padded[:, top : i + margin + 1 : step, left:right:step]  # every tap
        else:  # tensors: gather the live taps, a graph without Python values
            rows = (self.tap_rows + top[..., None]) * padded.shape[2]  # ([K,] live taps)
            taps = (rows + (self.tap_cols + left[..., None])).reshape(-1)
            patch = padded.flatten(1, 2).index_select(1, taps)  # (B, [K *] live taps, in)
            live = self.live_taps * padded.shape[3]  # the leading rows of the kernel
            patch, weight = patch.view(-1, live), weight[:live]  # (B [* K], live taps * in)
        out = patch.flatten(1) @ weight
        return out if self.bias is None else out + self.bias

    def _pixel_layout(self) -> Tensor:
        """The masked kernel as `[taps * in, out]` (tap-major, channels last)."""
        return self.masked_weight().permute(2, 3, 1, 0).flatten(0, 2).contiguous()

    def _pixel_weight(self) -> Tensor:
        """The masked kernel in its per-pixel layout, for `forward_at` and `forward_pixel`.
        A sampler asks for it at every pixel, so without gradients it is kept until the
        weight changes (its version counter, storage or dtype). A compiled step cannot check
        that key, so it reads the kernel `prepare_pixel_weights` kept; without one it would
        re-mask and re-lay out the kernel at every call."""
        if torch.compiler.is_compiling() and self._pixel_weight_cache is not None:
            return self._pixel_weight_cache
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return self._pixel_layout()
        key = (self.weight._version, self.weight.data_ptr(), self.weight.dtype)
        if self._pixel_weight_key != key:
            self._pixel_weight_cache = self._pixel_layout()
            self._pixel_weight_key = key
        return self._pixel_weight_cache

    def forward_pixel(self, x: Tensor) -> Tensor:
        """A 1x1 convolution applied to one pixel's features. Shape: `[B, in] -> [B, out]`."""
        if self.kernel_height != 1 or self.kernel_width != 1:
            raise ValueError("forward_pixel is for 1x1 convolutions; use forward_at")
        out = x @ self._pixel_weight()
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return (
            f"{in_channels}, {out_channels}, kernel_size={self.kernel_size}, "
            f"mask_type={self.mask_type!r}, color_groups={self.color_groups}, "
            f"dilation={self.dilation}"
            + (f", out_blocks={self.out_blocks}" if self.out_blocks != 1 else "")
        )


@torch.no_grad()
def prepare_pixel_weights(module: nn.Module) -> None:
    """Lay out every masked kernel in `module` for one-pixel steps, from its current weights,
    before a compiled sampling step reads them (`MaskedConv2d._pixel_weight`)."""
    for layer in module.modules():
        if isinstance(layer, MaskedConv2d):
            layer._pixel_weight()
