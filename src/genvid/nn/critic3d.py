"""The 3-D convolutional video critic of VGAN (Vondrick et al. 2016), for WGAN-GP.

VGAN's discriminator (their main.lua): four 4x4x4 stride-2 volumetric convolutions with
padding 1, 3 -> 64 -> 128 -> 256 -> 512 maps, each followed by LeakyReLU(0.2), halve time,
height and width; a last convolution over what remains gives the score. For 64x64 frames the
maps end at 4x4; 16 frames end at 1 step (20 frames too: 20 -> 10 -> 5 -> 2 -> 1), VGAN's 32 at
2, so the last kernel is (remaining steps) x 4 x 4, stride 1, no padding.

Deviations:
- No batch norm (VGAN has it after the 2nd-4th convolutions): a gradient penalty is defined
  per example, and batch statistics would couple the examples (Gulrajani et al., section 4).
- One output, a real-valued score (a Wasserstein critic, or the logit of "real" for the
  classic losses), instead of VGAN's two-class softmax, which is the same model.
- `hidden_channels` (VGAN's 64) scales every width, so tests can use tiny critics.

Speed: the first convolution reads 1 or 3 maps, where oneDNN's 3-D kernels are slow, the
backward pass (the gradient penalty differentiates it twice) most. It runs as the same
convolution of the space-to-depth input (`SpaceToDepthConv3d`): exact, 1.14-1.16x the
critic-and-generator step at quarter widths on an AMD EPYC (BENCHMARKS, issue 24).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

LEAK = 0.2


def steps_after_convolutions(frames: int, convolutions: int = 4) -> int:
    """Time steps left after `convolutions` 4-wide, stride-2, padding-1 convolutions."""
    for _ in range(convolutions):
        frames = (frames + 2 - 4) // 2 + 1
    return frames


class SpaceToDepthConv3d(nn.Conv3d):
    """A 4x4x4, stride-2, padding-1 convolution computed as a 2x2x2, stride-1 one on the padded
    input's 2x2x2 blocks stacked as maps (8x the input maps, the same multiply-adds): the same
    result to rounding and the same parameters, faster where the input has few maps. Inputs
    with an odd size take the plain convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, *size = x.shape
        if any(length % 2 for length in size):
            return super().forward(x)
        t, h, w = ((length + 2) // 2 for length in size)
        blocks = F.pad(x, (1, 1) * 3).view(n, c, t, 2, h, 2, w, 2)
        blocks = blocks.permute(0, 1, 3, 5, 7, 2, 4, 6).reshape(n, c * 8, t, h, w)
        o = self.out_channels
        # kernel index 2a + b: a steps over blocks, b within one (the maps' order above)
        weight = self.weight.view(o, c, 2, 2, 2, 2, 2, 2).permute(0, 1, 3, 5, 7, 2, 4, 6)
        return F.conv3d(blocks, weight.reshape(o, c * 8, 2, 2, 2), self.bias)


class VideoCritic(nn.Module):
    """Clips `[N, C, T, 64, 64]` (values in about [-1, 1]) to scores `[N]`.

    Args:
        in_channels: colours (1 or 3).
        frames: clip length T; at least 16 so that time survives four halvings.
        hidden_channels: maps of the first convolution (VGAN: 64); each later one doubles.
    """

    def __init__(self, in_channels: int, frames: int, *, hidden_channels: int = 64) -> None:
        super().__init__()
        if frames < 16:
            raise ValueError(f"the critic needs clips of at least 16 frames, got {frames}")
        widths = [hidden_channels * 2**k for k in range(4)]
        layers: list[nn.Module] = [SpaceToDepthConv3d(in_channels, widths[0]), nn.LeakyReLU(LEAK)]
        for i, o in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv3d(i, o, 4, stride=2, padding=1), nn.LeakyReLU(LEAK)]
        layers.append(nn.Conv3d(widths[-1], 1, (steps_after_convolutions(frames), 4, 4)))
        self.layers = nn.Sequential(*layers)

    def forward(self, clips: Tensor) -> Tensor:
        if clips.shape[-2:] != (64, 64):
            raise ValueError(f"the critic scores 64x64 frames, got {tuple(clips.shape[-2:])}")
        return self.layers(clips).flatten(1).mean(1)  # (N, 1, t, 1, 1) -> (N,)
