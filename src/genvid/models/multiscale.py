"""Multi-Scale PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, arXiv 1601.06759,
section 3.5).

An unconditional PixelRNN models an s x s subsampled image; a conditional PixelRNN models the
n x n image given it. The s x s image goes through an upsampling network (convolution,
deconvolution with stride n/s, convolution) to n x n conditioning maps, which an unmasked 1x1
convolution per layer adds to that layer's input-to-state maps (`PixelRNNConfig.
condition_channels`).

The s x s image is a deterministic function of the n x n one: every `factor`-th pixel of every
`factor`-th row (`x[:, :, ::factor, ::factor]`). So log p(x) = log p(small) + log p(x | small),
and the conditional scores only the pixels `small` does not fix: `nll(x)` at the known
pixels is the small model's NLL, elsewhere the conditional's. Summed over every image the
probabilities add to exactly 1 (tested on all binary 4x4 images).

Deviations: the paper does not give the upsampling network's layout or how the s x s image is
obtained; here it is subsampling, and conv 3x3 / deconv / conv 3x3 with ReLUs. The two
PixelRNNs share one set of sizes. The conditional network reads the known pixels as ordinary
raster inputs as well.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genvid.configcheck import check_field_types
from genvid.models.base import LikelihoodModel, eval_mode
from genvid.models.pixelrnn import PixelRNN, PixelRNNConfig
from genvid.models.raster import renamed_head_weights


@dataclass(frozen=True)
class MultiScalePixelRNNConfig:
    channels: int = 1  # colour channels of the data: 1 (grey/binary) or 3 (RGB)
    likelihood: str = "bernoulli"  # "bernoulli", "soft_bernoulli" or "categorical"
    layer: str = "diagonal"  # "row" (Row LSTM) or "diagonal" (Diagonal BiLSTM), both networks
    hidden_channels: int = 16  # h of both PixelRNNs
    num_layers: int = 7  # recurrent layers of each PixelRNN
    first_kernel_size: int = 7  # the mask-A input layers' kernel
    kernel_size: int = 3  # the Row LSTM's k
    output_channels: int = 32  # width of the two ReLU + 1x1 output layers
    residual: bool = True  # residual connections in every layer
    skip: bool = True  # skip connections from every layer to the output
    factor: int = 2  # n / s: the small image is every factor-th pixel of every factor-th row
    condition_channels: int = 32  # maps of the upsampling network

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.factor < 2:
            raise ValueError(f"factor must be >= 2, got {self.factor}")
        if self.condition_channels < 1:
            raise ValueError(f"condition_channels must be >= 1, got {self.condition_channels}")
        self.network(conditional=True)  # validates the shared fields

    def network(self, *, conditional: bool) -> PixelRNNConfig:
        """The config of the conditional (n x n) or unconditional (s x s) PixelRNN."""
        shared = {f.name for f in dataclasses.fields(PixelRNNConfig)} - {"condition_channels"}
        fields = {name: getattr(self, name) for name in shared}
        return PixelRNNConfig(
            **fields, condition_channels=self.condition_channels if conditional else 0
        )


class MultiScalePixelRNN(LikelihoodModel):
    """Multi-Scale PixelRNN over uint8 images `[B, C, H, W]`, H and W multiples of `factor`."""

    def __init__(self, config: MultiScalePixelRNNConfig) -> None:
        super().__init__()
        self.config = config
        self.small = PixelRNN(config.network(conditional=False))
        self.large = PixelRNN(config.network(conditional=True))
        self.likelihood = self.large.likelihood
        c, k, f = config.channels, config.condition_channels, config.factor
        self.upsample = nn.Sequential(
            nn.Conv2d(c, k, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(k, k, f, stride=f),  # (B, k, s, s) -> (B, k, n, n)
            nn.ReLU(),
            nn.Conv2d(k, k, 3, padding=1),
        )

    def _known(self, size: tuple[int, int], device: torch.device) -> Tensor:
        """bool `[H, W]`: the pixels the small image fixes."""
        height, width = size
        f = self.config.factor
        if height % f or width % f:
            raise ValueError(f"image size {height}x{width} is not a multiple of factor {f}")
        known = torch.zeros(height, width, dtype=torch.bool, device=device)
        known[::f, ::f] = True
        return known

    def renamed_weights(self, weights: dict[str, Tensor]) -> dict[str, Tensor]:
        """Checkpoint hook: its PixelRNNs' weights of an older release under today's names."""
        return renamed_head_weights(weights, self.state_dict().keys())

    def condition(self, small: Tensor) -> Tensor:
        """Conditioning maps of the large network. Shape: uint8 `[B, C, s, s]` -> `[B, k, n, n]`."""
        dtype = self.upsample[0].weight.dtype
        return self.upsample(small.to(dtype) * (2.0 / self.likelihood.max_value) - 1.0)

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-dimension NLL in nats: the small model's at the known pixels, else the large's."""
        if context is not None:
            raise ValueError("MultiScalePixelRNN is unconditional: context must be None")
        if x.dim() != 4:
            raise ValueError(f"expected images [B, C, H, W], got {tuple(x.shape)}")
        known = self._known(x.shape[2:], x.device)
        f = self.config.factor
        small = x[:, :, ::f, ::f]
        nll = self.large.nll(x, self.condition(small)).masked_fill(known, 0.0)
        nll[:, :, ::f, ::f] = self.small.nll(small)
        return nll

    def sample(
        self,
        n: int,
        size: tuple[int, int] = (28, 28),
        *,
        generator: torch.Generator | None = None,
        fast: bool = True,
        compiled: bool = False,
        progress: bool = False,
        temperature: float = 1.0,
        start: Tensor | None = None,
        given: Tensor | None = None,
    ) -> Tensor:
        """Draw the s x s image, then the rest of the n x n image given it.

        `fast` picks the cached or naive sampler of both networks; the same draws either way.
        Completion (`start` and its `given` mask `[H, W]`) applies to both stages: the small
        image is the large one's every f-th pixel, so its given pixels are the mask's.
        `temperature` divides the logits of both.

        Returns: uint8 `[n, C, H, W]`.
        """
        known = self._known(size, self.device)
        f = self.config.factor
        small = self.small.sample(
            n,
            (size[0] // f, size[1] // f),
            generator=generator,
            fast=fast,
            compiled=compiled,
            progress=progress,
            temperature=temperature,
            start=None if start is None else start[:, :, ::f, ::f],
            given=None if given is None else given[::f, ::f],
        )
        full = small.new_zeros(n, self.config.channels, *size)
        if start is not None:
            full.copy_(start)
        full[:, :, ::f, ::f] = small
        with eval_mode(self):
            with torch.no_grad():
                condition = self.condition(small)
            return self.large.sample(
                n,
                size,
                generator=generator,
                fast=fast,
                progress=progress,
                condition=condition,
                start=full,
                known=known,
                given=None if given is None else given.to(known.device) & ~known,
                temperature=temperature,
            )
