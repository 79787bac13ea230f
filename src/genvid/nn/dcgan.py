"""DCGAN-64 frame encoder and decoder with skip connections, as SVG uses them.

The encoder is the DCGAN discriminator and the decoder the DCGAN generator (Radford et al.
2016, arXiv 1511.06434) in the form of Denton & Fergus 2018 (arXiv 1802.07687, section 4,
SM-MNIST; their code's models/dcgan_64.py): four 4x4 stride-2 convolutions take a 64x64
frame to 32, 16, 8 and 4 pixels with 64, 128, 256 and 512 maps, each followed by
normalisation and LeakyReLU(0.2); a 4x4 convolution of the 4x4 maps gives a vector, normalised
and squashed by tanh. The decoder mirrors it with transposed convolutions and, at each scale,
concatenates the encoder's maps of that scale (the skips); a sigmoid ends it, so frames come
out in [0, 1]. Convolution and linear weights start N(0, 0.02) with zero biases, norm weights
N(1, 0.02) (`init_dcgan_weights`, the paper's code).

The stage (`conv_stage`), the normalisation choice (`norm_layer`), the vector head and stem
and the initialisation are shared: the VGG-64 networks (`genvid.nn.vgg64`) are built from
them, and so is `DCGANGenerator`, the plain DCGAN generator (no skips, ReLU, tanh) that the
video GAN (`genvid.models.videogan`) runs with layer norm.

Deviations:
- `norm` chooses the normalisation: "batch" (the paper's), "layer" (each example over all its
  maps and pixels, with a per-map scale and shift: `GroupNorm` with one group, so any frame
  size works) or "none".
- `hidden_channels` (the paper's 64) scales every width, so tests can use tiny networks.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

Norm = Literal["batch", "layer", "none"]
LEAK = 0.2  # negative slope of every LeakyReLU (DCGAN)


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    """The normalisation of `channels` maps: batch norm, layer norm over (C, H, W), or none."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}")


def conv_stage(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int = 0,
    norm: Norm,
    transposed: bool = False,
    leak: float = LEAK,
) -> nn.Sequential:
    """Convolution (or transposed convolution), normalisation, LeakyReLU(`leak`; 0 is ReLU)."""
    conv = nn.ConvTranspose2d if transposed else nn.Conv2d
    return nn.Sequential(
        conv(in_channels, out_channels, kernel_size, stride, padding),
        norm_layer(norm, out_channels),
        nn.LeakyReLU(leak) if leak else nn.ReLU(),
    )


def vector_head(in_channels: int, out_features: int, *, norm: Norm) -> nn.Sequential:
    """4x4 maps to a vector in (-1, 1): an unpadded 4x4 convolution, normalisation, tanh.

    Shape: `[N, in_channels, 4, 4] -> [N, out_features]`.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_features, 4),
        norm_layer(norm, out_features),
        nn.Tanh(),
        nn.Flatten(),  # (N, out_features, 1, 1) -> (N, out_features)
    )


def vector_stem(
    in_features: int, out_channels: int, *, norm: Norm, leak: float = LEAK
) -> nn.Sequential:
    """A vector to 4x4 maps: a 4x4 transposed convolution of it as a 1x1 map, the decoders' start.

    Shape: `[N, in_features] -> [N, out_channels, 4, 4]`.
    """
    return nn.Sequential(
        nn.Unflatten(1, (in_features, 1, 1)),  # (N, in_features, 1, 1)
        conv_stage(in_features, out_channels, 4, norm=norm, transposed=True, leak=leak),
    )


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN's initialisation of every layer in `module`, in place.

    Convolution, transposed-convolution and linear weights N(0, 0.02), their biases 0; batch-
    and layer-norm scales N(1, 0.02), shifts 0. Other layers (LSTM cells) keep PyTorch's.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def stage_widths(hidden_channels: int) -> list[int]:
    """Maps of the four scales, finest first: c, 2c, 4c, 8c."""
    return [hidden_channels * 2**k for k in range(4)]


class DCGANEncoder(nn.Module):
    """64x64 frames to a vector in (-1, 1), plus the four maps the decoder's skips read.

    Args:
        in_channels: colours of a frame (1 or 3).
        out_features: length of the vector (SVG's g_dim).
        hidden_channels: c, maps of the first stage; each later stage doubles them (paper: 64).
        norm: normalisation after each convolution.

    Shape: `[N, C, 64, 64]` -> `[N, out_features]` and maps `[N, c, 32, 32]`,
    `[N, 2c, 16, 16]`, `[N, 4c, 8, 8]`, `[N, 8c, 4, 4]` (finest first).
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
        widths = stage_widths(hidden_channels)
        self.stages = nn.ModuleList(
            conv_stage(i, o, 4, stride=2, padding=1, norm=norm)
            for i, o in zip([in_channels, *widths[:-1]], widths, strict=True)
        )
        self.head = vector_head(widths[-1], out_features, norm=norm)
        init_dcgan_weights(self)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips = []
        for stage in self.stages:
            x = stage(x)  # half the size, twice the maps
            skips.append(x)
        return self.head(x), skips


class DCGANDecoder(nn.Module):
    """A vector and the encoder's four maps to 64x64 frames in [0, 1].

    Args:
        in_features: length of the vector (SVG's g_dim).
        out_channels: colours of a frame (1 or 3).
        hidden_channels: c, as the encoder's.
        norm: normalisation after each transposed convolution but the last.

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
        widths = stage_widths(hidden_channels)
        self.stem = vector_stem(in_features, widths[3], norm=norm)
        # Each layer reads its input concatenated with the skip of the same scale: 2x the maps.
        self.stages = nn.ModuleList(
            conv_stage(
                2 * widths[k], widths[k - 1], 4, stride=2, padding=1, norm=norm, transposed=True
            )
            for k in (3, 2, 1)
        )
        self.output = nn.Sequential(
            nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1), nn.Sigmoid()
        )
        init_dcgan_weights(self)

    def forward(self, h: Tensor, skips: list[Tensor]) -> Tensor:
        x = self.stem(h)  # (N, 8c, 4, 4)
        for layer, skip in zip([*self.stages, self.output], reversed(skips), strict=True):
            x = layer(torch.cat([x, skip], dim=1))  # twice the size, from 2x the maps
        return x


class DCGANGenerator(nn.Module):
    """The DCGAN generator (Radford et al. 2016): a vector to a 64x64 frame in (-1, 1).

    A 4x4 transposed convolution of the vector as a 1x1 map, then four stride-2 transposed
    convolutions (8c -> 4c -> 2c -> c -> colours), each but the last followed by normalisation
    and ReLU; tanh at the end. The video GAN uses `norm="layer"` (no batch statistics, so a
    frame does not depend on the others of its batch, and a critic's gradient penalty is
    per example).

    Shape: `[N, in_features]` -> `[N, out_channels, 64, 64]`.
    """

    def __init__(
        self,
        in_features: int,
        out_channels: int,
        *,
        hidden_channels: int = 64,
        norm: Norm = "layer",
    ) -> None:
        super().__init__()
        widths = stage_widths(hidden_channels)
        self.stem = vector_stem(in_features, widths[3], norm=norm, leak=0.0)
        self.stages = nn.Sequential(
            *(
                conv_stage(
                    widths[k],
                    widths[k - 1],
                    4,
                    stride=2,
                    padding=1,
                    norm=norm,
                    transposed=True,
                    leak=0.0,
                )
                for k in (3, 2, 1)
            ),
            nn.ConvTranspose2d(widths[0], out_channels, 4, 2, 1),
            nn.Tanh(),
        )
        init_dcgan_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.stages(self.stem(z))
