"""The output head every raster model ends with, over whole maps or one pixel.

ReLU, then optionally a 1x1 mask-B convolution to `hidden` maps and another ReLU (PixelCNN and
PixelRNN, van den Oord et al. 2016, section 4.1), then a 1x1 mask-B convolution to the
likelihood's parameters (the VPN decoder's single output layer has no hidden one). Mask B at
1x1 only keeps colour groups causal; with one group it is an ordinary 1x1 convolution.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genvid.nn.masked import MaskedConv2d


class OutputHead(nn.Module):
    """ReLU, [1x1 -> `hidden`, ReLU,] 1x1 -> `params` maps.

    Shape: `forward` `[B, in, H, W] -> [B, params, H, W]`; `forward_pixel` `[B, in] -> [B, params]`.
    """

    def __init__(
        self, in_channels: int, params: int, *, hidden: int | None = None, color_groups: int = 1
    ) -> None:
        super().__init__()
        width = in_channels if hidden is None else hidden
        self.hidden = (
            None
            if hidden is None
            else MaskedConv2d(in_channels, hidden, 1, "B", color_groups=color_groups)
        )
        self.params = MaskedConv2d(width, params, 1, "B", color_groups=color_groups)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(x)
        if self.hidden is not None:
            x = torch.relu(self.hidden(x))
        return self.params(x)

    def forward_pixel(self, x: Tensor) -> Tensor:
        """The head at one pixel (cached sampling)."""
        x = torch.relu(x)
        if self.hidden is not None:
            x = torch.relu(self.hidden.forward_pixel(x))
        return self.params.forward_pixel(x)
