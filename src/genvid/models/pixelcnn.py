"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, arXiv 1601.06759, section 3.4).

A 7x7 mask-A convolution, residual blocks of masked 3x3 mask-B convolutions (figure 5:
1x1 2h -> h, 3x3 h -> h, 1x1 h -> 2h, each after a ReLU), then two ReLU + 1x1 output layers
(paper: 1024 maps, 32 for MNIST) and the output distribution. RGB data use three colour
groups in every convolution so that R -> G -> B holds within a pixel.

Deviations: `num_layers` counts residual blocks after the 7x7 layer; inputs are scaled to
[-1, 1]; the masked kernels are stored cropped to their non-zero rows (`genvid.nn.masked`);
optional dropout in the residual blocks (`dropout`, default off) is PixelCNN++'s, not the paper's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genvid.autoregressive.sampling import ParamsAt, RasterCache, sample_cached_or_naive
from genvid.models.base import check_config, eval_mode
from genvid.models.raster import RasterModel
from genvid.nn.head import OutputHead
from genvid.nn.masked import MaskedConv2d, prepare_pixel_weights
from genvid.nn.residual import MaskedResidualBlock


@dataclass(frozen=True)
class PixelCNNConfig:
    channels: int = 1  # colour channels of the data: 1 (grey/binary) or 3 (RGB)
    likelihood: str = "bernoulli"  # "bernoulli", "soft_bernoulli" or "categorical"
    hidden_channels: int = 32  # h: the residual stream carries 2h maps, the 3x3 convs h
    num_layers: int = 7  # residual blocks after the 7x7 mask-A layer
    first_kernel_size: int = 7  # the mask-A input layer's kernel
    kernel_size: int = 3  # the mask-B kernel inside each residual block
    output_channels: int = 32  # width of the two ReLU + 1x1 output layers
    dropout: float = 0.0  # in each residual block while training (PixelCNN++'s regulariser)

    def __post_init__(self) -> None:
        positive = ("hidden_channels", "num_layers", "output_channels")
        check_config(
            self, at_least=dict.fromkeys(positive, 1), odd=("first_kernel_size", "kernel_size")
        )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if 2 * self.hidden_channels < self.channels or self.output_channels < self.channels:
            raise ValueError("hidden_channels and output_channels need >= 1 map per colour")


class PixelCNN(RasterModel):
    """PixelCNN over uint8 images `[B, C, H, W]` of any size."""

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__(config)
        groups, h = config.channels, config.hidden_channels
        self.input_layer = MaskedConv2d(
            config.channels, 2 * h, config.first_kernel_size, "A", color_groups=groups
        )
        self.blocks = nn.Sequential(
            *(
                MaskedResidualBlock(
                    h, config.kernel_size, color_groups=groups, dropout=config.dropout
                )
                for _ in range(config.num_layers)
            )
        )
        self.head = OutputHead(
            2 * h,
            self.likelihood.param_channels(config.channels),
            hidden=config.output_channels,
            color_groups=groups,
        )

    def params(self, x: Tensor) -> Tensor:
        """Distribution parameters. Shape: uint8 `[B, C, H, W]` -> `[B, P*C, H, W]`."""
        self._check_images(x)
        # channels_last from the first layer on: a 1-channel input leaves the layout
        # ambiguous and PyTorch would pick NCHW, whose bf16 and pointwise kernels on the
        # CPU are several times slower (bench/pixelcnn_throughput.py).
        hidden = self.input_layer(self._scale(x)).contiguous(memory_format=torch.channels_last)
        return self.head(self.blocks(hidden))

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        if context is not None:
            raise ValueError("PixelCNN is unconditional: context must be None")
        return self.likelihood.nll(self.params(x), x)

    def cached_params_at(self, n: int, size: tuple[int, int]) -> ParamsAt:
        """`params_at` of the cached sampler: each layer computed at the new pixel only."""
        cache, pixel = self._raster_step(n, size)
        return cache.params_at(pixel)

    def _raster_step(self, n: int, size: tuple[int, int]) -> tuple[RasterCache, Callable]:
        """A raster cache for `n` images of `size` and the network at one pixel on it."""
        margin = self.margin
        cache = self._raster_cache(n, size, like=self.input_layer.weight)
        buffers = [cache.buffer(block.spatial.weight.shape[1]) for block in self.blocks]

        def pixel(i: int, j: int) -> Tensor:
            h = self.input_layer.forward_at(cache.data, i, j, margin)
            for block, buffer in zip(self.blocks, buffers, strict=True):
                h = block.forward_at(h, buffer, i, j, margin)
            return self.head.forward_pixel(h)

        return cache, pixel

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
        """Draw `n` images of `size`: cached (`fast`: a wavefront of pixels per step, each
        step compiled if `compiled`) or naive; the same draws either way.

        `temperature` divides the logits (1.0: the model's distribution); completion keeps the
        pixels of `start` (uint8 `[n, C, H, W]`) where `given` (bool `[H, W]`) is set and
        draws the rest conditioned on them (`genvid.autoregressive.sampling.sample_raster`).

        Returns: uint8 `[n, C, H, W]`.
        """
        with eval_mode(self):
            if compiled:
                prepare_pixel_weights(self)
            return sample_cached_or_naive(
                self.likelihood,
                (n, self.config.channels, *size),
                fast=fast,
                compiled=compiled,
                raster_step=lambda: self._raster_step(n, size),
                naive_params_at=lambda x, i, j: self.params(x)[:, :, i, j],
                device=self.device,
                generator=generator,
                progress=progress,
                start=start,
                given=given,
                temperature=temperature,
            )
