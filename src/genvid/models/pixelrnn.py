"""PixelRNN: Row LSTM and Diagonal BiLSTM models (van den Oord, Kalchbrenner & Kavukcuoglu
2016, arXiv 1601.06759, sections 3 and 4).

A 7x7 mask-A convolution (2h maps), `num_layers` recurrent layers (Row LSTM or Diagonal
BiLSTM, section 3.1-3.2) each with its residual connection (section 3.3), optional skip
connections from every layer's output (before its residual add) to the output layers, then
two ReLU + 1x1 mask-B output layers (1024 maps, 32 for MNIST; section 4.1) and the output
distribution. RGB data use three colour groups in every masked convolution and inside the
gates, so R -> G -> B holds in a pixel. An optional conditioning map (`condition_channels`)
is added through an unmasked 1x1 convolution per layer to that layer's input-to-state maps:
the conditional network of the Multi-Scale PixelRNN (section 3.5, `genvid.models.multiscale`).
With the Diagonal BiLSTM, pixel (i, j) sees every earlier pixel except the last of the row
above when j < W - 1 - first_kernel_size // 2 (`genvid.nn.recurrent.DiagonalBiLSTM`).

Deviations: `num_layers` counts recurrent layers after the 7x7 layer; inputs are scaled to
[-1, 1]; with skip connections the output layers read the sum of every layer's own output
(the paper does not say how its skip connections are combined); `residual=False` keeps the
1x1 h -> 2h convolution and drops only the add.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genvid.autoregressive.sampling import ParamsAt, sample_raster
from genvid.models.base import check_config, eval_mode
from genvid.models.raster import RasterModel
from genvid.nn.head import OutputHead
from genvid.nn.masked import MaskedConv2d
from genvid.nn.recurrent import RecurrentBlock


@dataclass(frozen=True)
class PixelRNNConfig:
    channels: int = 1  # colour channels of the data: 1 (grey/binary) or 3 (RGB)
    likelihood: str = "bernoulli"  # "bernoulli", "soft_bernoulli" or "categorical"
    layer: str = "diagonal"  # "row" (Row LSTM) or "diagonal" (Diagonal BiLSTM)
    hidden_channels: int = 16  # h: the LSTM state (per direction); layers pass 2h maps
    num_layers: int = 7  # recurrent layers after the 7x7 mask-A layer
    first_kernel_size: int = 7  # the mask-A input layer's kernel
    kernel_size: int = 3  # the Row LSTM's k (input-to-state and state-to-state)
    output_channels: int = 32  # width of the two ReLU + 1x1 output layers
    residual: bool = True  # add each layer's input to its output (section 3.3)
    skip: bool = True  # the output layers read the sum of every layer's own output
    condition_channels: int = 0  # maps of a conditioning input; 0: unconditional

    def __post_init__(self) -> None:
        positive = ("hidden_channels", "num_layers", "output_channels")
        check_config(
            self,
            at_least={**dict.fromkeys(positive, 1), "condition_channels": 0},
            odd=("first_kernel_size", "kernel_size"),
        )
        if self.layer not in ("row", "diagonal"):
            raise ValueError(f"layer must be 'row' or 'diagonal', got {self.layer!r}")
        if self.hidden_channels < self.channels or self.output_channels < self.channels:
            raise ValueError("hidden_channels and output_channels need >= 1 map per colour")


class PixelRNN(RasterModel):
    """PixelRNN over uint8 images `[B, C, H, W]` of any size."""

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        groups, h = config.channels, config.hidden_channels
        self.input_layer = MaskedConv2d(
            config.channels, 2 * h, config.first_kernel_size, "A", color_groups=groups
        )
        self.blocks = nn.ModuleList(
            RecurrentBlock(
                config.layer,
                h,
                kernel_size=config.kernel_size,
                color_groups=groups,
                residual=config.residual,
            )
            for _ in range(config.num_layers)
        )
        self.condition_layers = nn.ModuleList(
            nn.Conv2d(config.condition_channels, block.lstm.gate_channels, 1)
            for block in (self.blocks if config.condition_channels else ())
        )
        self.head = OutputHead(
            2 * h,
            self.likelihood.param_channels(config.channels),
            hidden=config.output_channels,
            color_groups=groups,
        )

    def _extras(self, condition: Tensor | None) -> list[Tensor | None]:
        """Each layer's conditioning input-to-state maps `[B, gates, H, W]` (or None)."""
        if not self.config.condition_channels:
            if condition is not None:
                raise ValueError("this PixelRNN is unconditional: condition must be None")
            return [None] * len(self.blocks)
        if condition is None or condition.shape[1] != self.config.condition_channels:
            raise ValueError(
                f"expected a condition of {self.config.condition_channels} maps, got "
                f"{None if condition is None else tuple(condition.shape)}"
            )
        return [layer(condition) for layer in self.condition_layers]

    def params(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """Distribution parameters. Shape: uint8 `[B, C, H, W]` -> `[B, P*C, H, W]`.

        `condition`: `[B, condition_channels, H, W]` for a conditional model.
        """
        self._check_images(x)
        hidden, skip = self.input_layer(self._scale(x)), None
        for block, extra in zip(self.blocks, self._extras(condition), strict=True):
            hidden, skip = block(hidden, skip, extra)
        return self.head(skip if self.config.skip else hidden)

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-dimension NLL in nats; `context` is the conditioning map, if any."""
        return self.likelihood.nll(self.params(x, context), x)

    def cached_params_at(
        self, n: int, size: tuple[int, int], condition: Tensor | None = None
    ) -> ParamsAt:
        """`params_at` of the cached sampler: every layer computed one pixel at a time, the
        recurrent layers stepping their cached state (`RowLSTMStepper`,
        `DiagonalBiLSTMStepper`)."""
        margin = self.margin
        cache = self._raster_cache(n, size, like=self.input_layer.weight)
        steppers = [
            block.lstm.stepper(cache, extra)
            for block, extra in zip(self.blocks, self._extras(condition), strict=True)
        ]

        def pixel(i: int, j: int) -> Tensor:
            hidden, skip = self.input_layer.forward_at(cache.data, i, j, margin), None
            for block, stepper in zip(self.blocks, steppers, strict=True):
                hidden, skip = block.forward_at(hidden, skip, stepper, i, j)
            return self.head.forward_pixel(skip if self.config.skip else hidden)

        return cache.params_at(pixel)

    def sample(
        self,
        n: int,
        size: tuple[int, int] = (28, 28),
        *,
        generator: torch.Generator | None = None,
        fast: bool = True,
        compiled: bool = False,
        progress: bool = False,
        condition: Tensor | None = None,
        start: Tensor | None = None,
        known: Tensor | None = None,
        given: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Draw `n` images of `size`: cached (`fast`) or naive; the same draws either way.

        `condition`, `start` and `known` serve the multi-scale model: the conditioning map
        `[n, condition_channels, H, W]`, and pixels given in advance
        (`genvid.autoregressive.sampling`).
        `given` (bool `[H, W]`) keeps those pixels of `start` and draws the rest conditioned
        on them (completion); `temperature` divides the logits (1.0: exact). `compiled` is
        refused: the recurrent steppers keep Python state per row (`RowLSTMStepper`).

        Returns: uint8 `[n, C, H, W]`.
        """
        if compiled:
            raise ValueError(
                "compiled sampling covers PixelCNN and the VPN; the PixelRNNs' recurrent "
                "steppers keep Python state per row"
            )
        with eval_mode(self):
            with torch.no_grad():
                if fast:
                    params_at = self.cached_params_at(n, size, condition)
                else:
                    params_at = lambda x, i, j: self.params(x, condition)[:, :, i, j]  # noqa: E731
                return sample_raster(
                    params_at,
                    self.likelihood,
                    (n, self.config.channels, *size),
                    device=self.device,
                    generator=generator,
                    progress=progress,
                    start=start,
                    known=known,
                    given=given,
                    temperature=temperature,
                )
