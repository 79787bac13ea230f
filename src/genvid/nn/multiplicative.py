"""Multiplicative units (MU) and residual multiplicative blocks (RMB).

Kalchbrenner et al., "Video Pixel Networks", 2017, arXiv 1610.00527, section 4.1 and figure 3:

    g1 = sigmoid(W1 * h), g2 = sigmoid(W2 * h), g3 = sigmoid(W3 * h), u = tanh(W4 * h)
    MU(h) = g1 * tanh(g2 * h + g3 * u)

where `*` is a convolution (possibly masked, possibly dilated). An RMB (section 4) is a
1x1 convolution 2c -> c, two MUs, a 1x1 convolution c -> 2c, and the block's input added.
The same blocks serve the encoders (plain, possibly dilated convolutions) and the PixelCNN
decoder (`masked=True`: every convolution a mask-B `MaskedConv2d` with colour groups), so a
masked RMB is this RMB, not a copy. `unit="relu"` replaces each MU by ReLU(W * h), the
paper's ablation (table 2).

Deviations: the convolutions have biases (the paper's formulas omit them); the four
convolutions of an MU are computed as one convolution with 4c outputs (g1, g2, g3, u
stacked); when masked, its output forms four blocks, each colour-grouped on its own
(`out_blocks=4`), so every gate channel is in the colour group of the channel of h it gates
(a plain 4c-output grouping would differ when the group count does not divide c).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from genvid.nn.masked import MaskedConv2d, write_at

UnitType = Literal["mu", "relu"]


def _conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    masked: bool,
    color_groups: int,
    dilation: int,
    out_blocks: int = 1,
) -> nn.Module:
    """A same-size convolution: mask B (raster-causal) if `masked`, else a plain one."""
    if masked:
        return MaskedConv2d(
            in_channels,
            out_channels,
            kernel_size,
            "B",
            color_groups=color_groups,
            dilation=dilation,
            out_blocks=out_blocks,
        )
    if color_groups != 1:
        raise ValueError("color_groups applies to masked convolutions only")
    padding = dilation * (kernel_size // 2)
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation)


class MultiplicativeUnit(nn.Module):
    """MU(h) = g1 * tanh(g2 * h + g3 * u), gates and update convolutions of h.

    Args:
        channels: c, the maps in and out.
        kernel_size: odd k of the gate convolutions.
        masked: mask-B convolutions (decoder) instead of plain ones (encoder).
        color_groups: colour groups of the masked convolutions.
        dilation: spacing of the kernel taps.

    Shape: `[B, c, H, W] -> [B, c, H, W]`.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        *,
        masked: bool = False,
        color_groups: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv = _conv(
            channels,
            4 * channels,
            kernel_size,
            masked=masked,
            color_groups=color_groups,
            dilation=dilation,
            out_blocks=4,  # g1, g2, g3, u: each block colour-grouped like h
        )

    @staticmethod
    def _combine(h: Tensor, pre: Tensor, dim: int) -> Tensor:
        g1, g2, g3, u = pre.chunk(4, dim=dim)
        return torch.sigmoid(g1) * torch.tanh(
            torch.sigmoid(g2) * h + torch.sigmoid(g3) * torch.tanh(u)
        )

    def forward(self, h: Tensor) -> Tensor:
        return self._combine(h, self.conv(h), dim=1)

    def forward_at(self, h: Tensor, cache: Tensor, i: int, j: int, margin: int) -> Tensor:
        """The unit at pixel (i, j) alone (cached sampling; masked units only).

        Args:
            h: the unit's input at (i, j), `[B, c]`; written into `cache` here.
            cache: the padded, channels-last input (see `MaskedConv2d.forward_at`).

        Returns: `[B, c]`.
        """
        write_at(cache, i, j, margin, h)
        return self._combine(h, self.conv.forward_at(cache, i, j, margin), dim=1)


class ReLUUnit(nn.Module):
    """ReLU(W * h): the MU's replacement in the paper's ablation. Same arguments as the MU."""

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        *,
        masked: bool = False,
        color_groups: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv = _conv(
            channels,
            channels,
            kernel_size,
            masked=masked,
            color_groups=color_groups,
            dilation=dilation,
        )

    def forward(self, h: Tensor) -> Tensor:
        return torch.relu(self.conv(h))

    def forward_at(self, h: Tensor, cache: Tensor, i: int, j: int, margin: int) -> Tensor:
        """As `MultiplicativeUnit.forward_at`."""
        write_at(cache, i, j, margin, h)
        return torch.relu(self.conv.forward_at(cache, i, j, margin))


class ResidualMultiplicativeBlock(nn.Module):
    """RMB: 1x1 (2c -> c), two units, 1x1 (c -> 2c), plus the input. The block owns the add.

    Args:
        channels: c; the block's input and output carry 2c maps.
        kernel_size: odd k of the units' convolutions.
        masked: mask-B convolutions throughout (PixelCNN decoder).
        color_groups: colour groups of the masked convolutions.
        dilation: the units' dilation (equal within a block, section 4).
        unit: "mu" (the paper's) or "relu" (its ablation).

    Shape: `[B, 2c, H, W] -> [B, 2c, H, W]`.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        *,
        masked: bool = False,
        color_groups: int = 1,
        dilation: int = 1,
        unit: UnitType = "mu",
    ) -> None:
        super().__init__()
        units = {"mu": MultiplicativeUnit, "relu": ReLUUnit}
        if unit not in units:
            raise ValueError(f"unit must be 'mu' or 'relu', got {unit!r}")
        c, groups = channels, color_groups
        self.reduce = _conv(2 * c, c, 1, masked=masked, color_groups=groups, dilation=1)
        self.units = nn.ModuleList(
            units[unit](c, kernel_size, masked=masked, color_groups=groups, dilation=dilation)
            for _ in range(2)
        )
        self.expand = _conv(c, 2 * c, 1, masked=masked, color_groups=groups, dilation=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.reduce(x)
        for unit in self.units:
            h = unit(h)
        return x + self.expand(h)

    def forward_at(self, x: Tensor, caches: list[Tensor], i: int, j: int, margin: int) -> Tensor:
        """The block at pixel (i, j) alone (cached sampling; masked blocks only).

        Args:
            x: the block's input at (i, j), `[B, 2c]`.
            caches: one padded channels-last `[B, H + margin, W + 2 margin, c]` per unit.

        Returns: `[B, 2c]`.
        """
        h = self.reduce.forward_pixel(x)
        for unit, cache in zip(self.units, caches, strict=True):
            h = unit.forward_at(h, cache, i, j, margin)
        return x + self.expand.forward_pixel(h)
