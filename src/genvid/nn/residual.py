"""Residual blocks shared by the convolutional autoregressive models."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genvid.nn.masked import MaskedConv2d, write_at


class MaskedResidualBlock(nn.Module):
    """PixelCNN residual block (van den Oord et al. 2016, arXiv 1601.06759, figure 5).

    ReLU, 1x1 (2h -> h), ReLU, k x k mask B (h -> h), ReLU, 1x1 (h -> 2h), added to the input.
    Every convolution is mask B so colour groups stay causal; the block owns its residual add.
    `dropout` (training only, elementwise, so causal) acts before the last 1x1, as PixelCNN++'s
    residual blocks regularise (Salimans et al. 2017, arXiv 1701.05517).

    Shape: `[B, 2h, H, W] -> [B, 2h, H, W]`.
    """

    def __init__(
        self,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        color_groups: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        h = hidden_channels
        self.reduce = MaskedConv2d(2 * h, h, 1, "B", color_groups=color_groups)
        self.spatial = MaskedConv2d(h, h, kernel_size, "B", color_groups=color_groups)
        self.expand = MaskedConv2d(h, 2 * h, 1, "B", color_groups=color_groups)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        hidden = torch.relu(self.reduce(torch.relu(x)))
        return x + self.expand(self.dropout(torch.relu(self.spatial(hidden))))

    def forward_at(self, x: Tensor, cache: Tensor, i: int, j: int, margin: int) -> Tensor:
        """The block at pixel (i, j) alone (cached sampling, in eval mode: no dropout).

        Args:
            x: the block's input at (i, j), `[B, 2h]`.
            cache: the spatial convolution's padded input (see `MaskedConv2d.forward_at`),
                updated here at (i, j).

        Returns: `[B, 2h]`.
        """
        write_at(cache, i, j, margin, torch.relu(self.reduce.forward_pixel(torch.relu(x))))
        return x + self.expand.forward_pixel(
            torch.relu(self.spatial.forward_at(cache, i, j, margin))
        )
