"""VGG-64 frame encoder and decoder with skip connections, SVG's networks for KTH and BAIR.

Denton & Fergus 2018 (arXiv 1802.07687, section 4; their code's models/vgg_64.py): the encoder
is VGG16 (Simonyan & Zisserman 2015, arXiv 1409.1556) up to its last pooling layer: blocks of
3x3 convolutions (2, 2, 3 and 3 of them with 64, 128, 256 and 512 maps, each followed by
normalisation and LeakyReLU(0.2)) at 64, 32, 16 and 8 pixels with 2x2 max pooling between
them, pooled once more to 4x4, then a 4x4 convolution to a vector with normalisation and tanh.
The decoder mirrors it: a 4x4 transposed convolution of the vector, then at each scale
nearest-neighbour upsampling, concatenation with the encoder's block output of that scale
(the skip) and a block of 3x3 convolutions, and a last 3x3 (transposed) convolution with a
sigmoid, so frames come out in [0, 1].

Same interface and building blocks as `genvid.nn.dcgan`, so SVG switches between the two on a
config field; the skips are at 64, 32, 16 and 8 pixels here, at 32, 16, 8 and 4 there.

Deviations: `norm` and `hidden_channels` (the paper's 64) as in `genvid.nn.dcgan`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.nn.dcgan import (
    Norm,
    conv_stage,
    init_dcgan_weights,
    stage_widths,
    vector_head,
    vector_stem,
)


def vgg_block(widths: Sequence[int], *, norm: Norm) -> nn.Sequential:
    """Same-size 3x3 convolution stages through the map counts `widths` (input, ..., output)."""
    return nn.Sequential(
        *(
            conv_stage(i, o, 3, padding=1, norm=norm)
            for i, o in zip(widths[:-1], widths[1:], strict=True)
        )
    )


class VGGEncoder(nn.Module):
    """64x64 frames to a vector in (-1, 1), plus the four block outputs the decoder's skips read.

    Args:
        in_channels: colours of a frame (1 or 3).
        out_features: length of the vector (SVG's g_dim).
        hidden_channels: c, maps of the first block; each later block doubles them (paper: 64).
        norm: normalisation after each convolution.

    Shape: `[N, C, 64, 64]` -> `[N, out_features]` and maps `[N, c, 64, 64]`,
    `[N, 2c, 32, 32]`, `[N, 4c, 16, 16]`, `[N, 8c, 8, 8]` (finest first).
    """

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        *,
        hidden_channels: int = 64,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        c1, c2, c4, c8 = stage_widths(hidden_channels)
        chains = ((in_channels, c1, c1), (c1, c2, c2), (c2, c4, c4, c4), (c4, c8, c8, c8))
        self.blocks = nn.ModuleList(vgg_block(chain, norm=norm) for chain in chains)
        self.head = vector_head(c8, out_features, norm=norm)
        init_dcgan_weights(self)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips = []
        for k, block in enumerate(self.blocks):
            x = block(F.max_pool2d(x, 2) if k else x)  # the first block works at full size
            skips.append(x)
        return self.head(F.max_pool2d(x, 2)), skips  # (N, 8c, 4, 4) into the head


class VGGDecoder(nn.Module):
    """A vector and the encoder's four maps to 64x64 frames in [0, 1].

    Args:
        in_features: length of the vector (SVG's g_dim).
        out_channels: colours of a frame (1 or 3).
        hidden_channels: c, as the encoder's.
        norm: normalisation after each convolution but the last.

    Shape: `[N, in_features]` and the encoder's maps -> `[N, out_channels, 64, 64]`.
    """

    def __init__(
        self,
        in_features: int,
        out_channels: int,
        *,
        hidden_channels: int = 64,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        c1, c2, c4, c8 = stage_widths(hidden_channels)
        self.stem = vector_stem(in_features, c8, norm=norm)
        # Each block reads the upsampled maps concatenated with the skip of the same scale.
        chains = ((2 * c8, c8, c8, c4), (2 * c4, c4, c4, c2), (2 * c2, c2, c1), (2 * c1, c1))
        self.blocks = nn.ModuleList(vgg_block(chain, norm=norm) for chain in chains)
        self.output = nn.Sequential(
            nn.ConvTranspose2d(c1, out_channels, 3, padding=1), nn.Sigmoid()
        )
        init_dcgan_weights(self)

    def forward(self, h: Tensor, skips: list[Tensor]) -> Tensor:
        x = self.stem(h)  # (N, 8c, 4, 4)
        for block, skip in zip(self.blocks, reversed(skips), strict=True):
            up = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (N, maps, 2H, 2W)
            x = block(torch.cat([up, skip], dim=1))
        return self.output(x)
