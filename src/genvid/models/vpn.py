"""Video Pixel Network (Kalchbrenner et al. 2017, arXiv 1610.00527) and its baseline.

Section 4: each frame F_0..F_{T-1} goes through a resolution-preserving encoder (a
convolution to 2c maps and k residual multiplicative blocks, optionally dilated with rates
1, 2, 4, 8 repeating); a ConvLSTM at full resolution runs over the encoded frames; a
PixelCNN decoder of l masked RMBs (no dilation) predicts frame t from the ConvLSTM output
after frames < t and the values of frame t before the current one (time, then rows,
columns, colours R -> G -> B). The baseline ("Baseline model", tables 1 and 3) keeps the
encoders and the ConvLSTM but its decoder sees no value of the frame it predicts: each value
of frame t depends on frames < t only, and a frame is drawn in one pass. `unit="relu"` is the
MU/ReLU ablation of table 2. Moving MNIST uses the sigmoid cross-entropy against grey levels
/ 255 (`soft_bernoulli`, section 5); colour video the 256-way softmax (`categorical`).

Frame 0 of a video is conditioned on an all-zero (black) previous frame: the ConvLSTM always
first reads the encoding of a zero frame, so `nll(video)[:, k:]` equals `nll(video[:, k:],
context=video[:, :k])` and the model is a density over whole videos.

Deviations:
- Fusion: the decoder's input is a 7x7 mask-A convolution of the current frame plus a 1x1
  convolution of the ConvLSTM output (both 2c maps), added once before the first masked RMB;
  the output is a ReLU and a masked 1x1 convolution to the distribution's parameters.
  The paper does not say how the two are joined.
- The encoder's first layer is a plain k x k convolution of the frame to 2c maps; frames are
  scaled to [-1, 1]. Convolutions have biases; the ConvLSTM has no peepholes.
- Training (`forward`) scores frames `train_context_frames..T-1` (default: every frame but
  the first), not frame 0 given nothing.
- `checkpoint_activations` recomputes each time step (encoder + ConvLSTM step, and decoder)
  in the backward pass (`torch.utils.checkpoint`) instead of truncating backpropagation.
- Truncated backpropagation, for long videos: `context_grad=False` runs the given frames'
  steps without gradients (the state entering the scored window is a constant), `window=K`
  detaches the ConvLSTM state every K scored frames. Both change only gradients, never the
  loss; neither is in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genvid.autoregressive.sampling import ParamsAt, RasterCache, sample_cached_or_naive
from genvid.models.base import check_config, eval_mode
from genvid.models.raster import RasterModel
from genvid.nn.convlstm import ConvLSTMCell, State
from genvid.nn.head import OutputHead
from genvid.nn.masked import MaskedConv2d, prepare_pixel_weights, read_at
from genvid.nn.multiplicative import ResidualMultiplicativeBlock

DILATIONS = (1, 2, 4, 8)  # encoder rates, repeated (section 4)


@dataclass(frozen=True)
class VPNConfig:
    channels: int = 1  # colour channels of the video: 1 (grey/binary) or 3 (RGB)
    likelihood: str = "soft_bernoulli"  # "soft_bernoulli" (Moving MNIST), "categorical", ...
    hidden_channels: int = 32  # c: MU width; the residual stream between RMBs carries 2c maps
    encoder_blocks: int = 2  # k: RMBs of the per-frame encoder (paper: 8)
    decoder_blocks: int = 3  # l: masked RMBs of the PixelCNN decoder (paper: 12)
    lstm_channels: int = 64  # hidden maps of the ConvLSTM
    dilation: bool = True  # encoder RMB dilation rates 1, 2, 4, 8 repeating; False: all 1
    unit: str = "mu"  # "mu": multiplicative units; "relu": the paper's ReLU ablation
    baseline: bool = False  # True: the paper's baseline, no dependence within a frame
    kernel_size: int = 3  # kernel of the units' convolutions and of the encoder's input layer
    first_kernel_size: int = 7  # the decoder's mask-A input convolution
    lstm_kernel_size: int = 3  # both ConvLSTM convolutions
    train_context_frames: int = 1  # leading frames of a training batch given, not scored
    checkpoint_activations: bool = False  # recompute each time step in backward (memory)
    # Truncated backpropagation (training only; the NLL computed is the same):
    context_grad: bool = True  # False: the given frames' encoder and ConvLSTM steps run
    #   without gradients (the TensorFlow reimplementation's warm-up); less work and memory,
    #   but the encoder and ConvLSTM learn only from steps inside the scored window
    window: int = 0  # > 0: cut the gradient through the ConvLSTM state every `window` scored
    #   frames (state carried, detached); dependencies longer than a window are not learned

    def __post_init__(self) -> None:
        check_config(
            self,
            at_least={
                **dict.fromkeys(("hidden_channels", "lstm_channels", "decoder_blocks"), 1),
                **dict.fromkeys(("encoder_blocks", "train_context_frames", "window"), 0),
            },
            odd=("kernel_size", "first_kernel_size", "lstm_kernel_size"),
        )
        if self.unit not in ("mu", "relu"):
            raise ValueError(f"unit must be 'mu' or 'relu', got {self.unit!r}")
        if self.hidden_channels < self.channels:
            raise ValueError("hidden_channels needs >= 1 map per colour")


class VideoPixelNetwork(RasterModel):
    """VPN (or its baseline) over uint8 videos `[B, T, C, H, W]` of any frame size."""

    input_name = "encoder_input"

    def __init__(self, config: VPNConfig) -> None:
        super().__init__(config)
        c, k, colours = config.hidden_channels, config.kernel_size, config.channels
        self.encoder_input = nn.Conv2d(colours, 2 * c, k, padding=k // 2)
        self.encoder = nn.Sequential(
            *(
                ResidualMultiplicativeBlock(
                    c, k, dilation=DILATIONS[n % 4] if config.dilation else 1, unit=config.unit
                )
                for n in range(config.encoder_blocks)
            )
        )
        self.lstm = ConvLSTMCell(2 * c, config.lstm_channels, config.lstm_kernel_size)
        self.condition = nn.Conv2d(config.lstm_channels, 2 * c, 1)
        masked, groups = not config.baseline, 1 if config.baseline else colours
        self.decoder_input = (
            None
            if config.baseline
            else MaskedConv2d(colours, 2 * c, config.first_kernel_size, "A", color_groups=groups)
        )
        self.decoder = nn.ModuleList(
            ResidualMultiplicativeBlock(c, k, masked=masked, color_groups=groups, unit=config.unit)
            for _ in range(config.decoder_blocks)
        )
        self.head = OutputHead(2 * c, self.likelihood.param_channels(colours), color_groups=groups)

    # -- the network, frame by frame ------------------------------------------------------
    def encode(self, frames: Tensor) -> Tensor:
        """Resolution-preserving encoder. Shape: uint8 `[N, C, H, W]` -> `[N, 2c, H, W]`."""
        return self.encoder(self.encoder_input(self._scale(frames)))

    def _advance(self, frame: Tensor, h: Tensor, c: Tensor) -> State:
        """Read one more frame `[B, C, H, W]` into the ConvLSTM state."""
        return self.lstm.step(self.lstm.input_gates(self.encode(frame)), (h, c))

    def _decode_conditioned(self, condition: Tensor, frames: Tensor | None) -> Tensor:
        """Decoder from `condition(lstm output)` `[N, 2c, H, W]` (and the frames, if a VPN)."""
        h = condition
        if self.decoder_input is not None:
            h = h + self.decoder_input(self._scale(frames))
        for block in self.decoder:
            h = block(h)
        return self.head(h)

    def decode(self, lstm_out: Tensor, frames: Tensor | None) -> Tensor:
        """Parameters of frames `[N, C, H, W]` (uint8; ignored by the baseline) given the
        ConvLSTM output `[N, L, H, W]` after the frames before them. Returns `[N, P*C, H, W]`."""
        return self._decode_conditioned(self.condition(lstm_out), frames)

    def _frame_nll(self, lstm_out: Tensor, frame: Tensor) -> Tensor:
        return self.likelihood.nll(self.decode(lstm_out, frame), frame)

    # -- the likelihood contract -------------------------------------------------------------
    def _check(self, video: Tensor, name: str) -> Tensor:
        if video.dim() != 5 or video.shape[2] != self.config.channels:
            raise ValueError(
                f"expected {name} as videos [B, T, {self.config.channels}, H, W], "
                f"got {tuple(video.shape)}"
            )
        return video

    def _video(self, x: Tensor, context: Tensor | None) -> Tensor:
        """`context` and `x` joined in time, checked: `[B, Tc + T, C, H, W]`."""
        self._check(x, "x")
        if context is None:
            return x
        self._check(context, "context")
        if context.shape[:1] + context.shape[2:] != x.shape[:1] + x.shape[2:]:
            raise ValueError(f"context {tuple(context.shape)} does not match x {tuple(x.shape)}")
        return torch.cat([context, x], dim=1)

    def _initial(self, video: Tensor) -> tuple[Tensor, State]:
        """The all-zero frame read first, and the ConvLSTM's all-zero state."""
        b, _, colours, height, width = video.shape
        zero = video.new_zeros(b, colours, height, width)
        weight = self.encoder_input.weight
        h = weight.new_zeros(b, self.config.lstm_channels, height, width)
        return zero, (h, h)

    def lstm_outputs(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """ConvLSTM output conditioning each frame of `x`. Shape: `[B, T, L, H, W]`."""
        video = self._video(x, context)
        b, frames = video.shape[:2]
        given = frames - x.shape[1]
        zero, state = self._initial(video)
        previous = torch.cat([zero[:, None], video[:, :-1]], dim=1)  # frame t reads frame t-1
        warm = 0 if self.config.context_grad else given  # steps run without gradients
        if warm:
            with torch.no_grad():
                gates = self.lstm.input_gates(self.encode(previous[:, :warm].flatten(0, 1)))
                for gates_t in gates.unflatten(0, (b, warm)).unbind(1):
                    state = self.lstm.step(gates_t, state)
        gates = self.lstm.input_gates(self.encode(previous[:, warm:].flatten(0, 1)))
        # unbind, not gates[:, t]: the backward of T selects would fill T full-size zero
        # tensors, one per step; unbind's backward stacks the T gradients once.
        outputs = []
        for t, gates_t in enumerate(gates.unflatten(0, (b, frames - warm)).unbind(1), warm):
            state = self._cut(state, t, given)
            state = self.lstm.step(gates_t, state)
            if t >= given:
                outputs.append(state[0])
        return torch.stack(outputs, dim=1)

    def _cut(self, state: State, t: int, given: int) -> State:
        """The state entering step `t`, detached where a truncation window starts."""
        window = self.config.window
        if window and t > given and (t - given) % window == 0:
            return state[0].detach(), state[1].detach()
        return state

    def params(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Distribution parameters of every value of `x` given `context` (or a zero frame).

        Shape: uint8 `[B, T, C, H, W]` (context `[B, Tc, C, H, W]`) -> `[B, T, P*C, H, W]`.
        """
        conditions = self.lstm_outputs(x, context)
        params = self.decode(conditions.flatten(0, 1), x.flatten(0, 1))  # (B*T, P*C, H, W)
        return params.unflatten(0, x.shape[:2])

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-value NLL in nats of frames `x` given `context`; frame 0 of a video without
        context is conditioned on an all-zero frame. Shape: like `x`."""
        if self.config.checkpoint_activations and torch.is_grad_enabled():
            return self._nll_checkpointed(x, context)
        params = self.params(x, context)
        return self.likelihood.nll(params.flatten(0, 1), x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def _nll_checkpointed(self, x: Tensor, context: Tensor | None) -> Tensor:
        """`nll` keeping only frames and ConvLSTM states for backward; each step recomputed."""
        video = self._video(x, context)
        given = video.shape[1] - x.shape[1]
        previous, state = self._initial(video)
        nats = []
        for t in range(video.shape[1]):
            if t < given and not self.config.context_grad:
                with torch.no_grad():
                    state = self._advance(previous, *state)
            else:
                state = self._cut(state, t, given)
                state = checkpoint(self._advance, previous, *state, use_reentrant=False)
            if t >= given:
                nats.append(checkpoint(self._frame_nll, state[0], video[:, t], use_reentrant=False))
            previous = video[:, t]
        return torch.stack(nats, dim=1)

    def forward(self, batch: Tensor) -> dict[str, Tensor]:
        """Training loss: nats per frame over frames `train_context_frames..T-1`, batch mean."""
        given = self.config.train_context_frames
        if batch.dim() != 5 or batch.shape[1] <= given:
            raise ValueError(
                f"expected videos [B, T, C, H, W] with T > {given}, got {tuple(batch.shape)}"
            )
        context = batch[:, :given] if given else None
        nats = self.nll(batch[:, given:], context).sum(dim=(2, 3, 4)).mean()
        return {"loss": nats, "nats_per_frame": nats.detach()}

    # -- sampling ---------------------------------------------------------------------------
    def cached_params_at(self, condition: Tensor) -> ParamsAt:
        """`params_at` of the cached sampler for one frame given `condition(lstm output)`
        `[N, 2c, H, W]`: each decoder layer at the new pixel only."""
        cache, pixel = self._raster_step(condition)
        return cache.params_at(pixel)

    def _raster_step(self, condition: Tensor) -> tuple[RasterCache, Callable]:
        """The frame's raster cache and the decoder at one pixel, reading and filling it."""
        n, _, height, width = condition.shape
        margin = self.margin
        cache = self._raster_cache(n, (height, width), like=condition)
        buffers = [
            [cache.buffer(self.config.hidden_channels) for _ in range(2)] for _ in self.decoder
        ]
        condition = condition.permute(0, 2, 3, 1).contiguous()  # (N, H, W, 2c), read by pixel

        def pixel(i: int, j: int) -> Tensor:
            h = self.decoder_input.forward_at(cache.data, i, j, margin) + read_at(condition, i, j)
            for block, unit_buffers in zip(self.decoder, buffers, strict=True):
                h = block.forward_at(h, unit_buffers, i, j, margin)
            return self.head.forward_pixel(h)

        return cache, pixel

    def _sample_frame(
        self,
        lstm_out: Tensor,
        generator: torch.Generator | None,
        fast: bool,
        progress: bool,
        temperature: float = 1.0,
        compiled: bool = False,
        start: Tensor | None = None,
        given: Tensor | None = None,
    ) -> Tensor:
        condition = self.condition(lstm_out)  # (B, 2c, H, W), fixed for the whole frame
        if self.config.baseline:  # every value independent given the past: one pass
            logits = self._decode_conditioned(condition, None) / temperature
            frame = self.likelihood.sample(logits, generator)
            return frame if given is None else torch.where(given, start, frame)
        b, _, height, width = condition.shape
        return sample_cached_or_naive(
            self.likelihood,
            (b, self.config.channels, height, width),
            fast=fast,
            compiled=compiled,
            raster_step=lambda: self._raster_step(condition),
            naive_params_at=lambda x, i, j: self._decode_conditioned(condition, x)[:, :, i, j],
            device=condition.device,
            generator=generator,
            progress=progress,
            temperature=temperature,
            start=start,
            given=given,
        )

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        size: tuple[int, int] | None = None,
        *,
        context: Tensor | None = None,
        steps: int = 10,
        generator: torch.Generator | None = None,
        fast: bool = True,
        compiled: bool = False,
        progress: bool = False,
        temperature: float = 1.0,
        start: Tensor | None = None,
        given: Tensor | None = None,
    ) -> Tensor:
        """Continue `context` by `steps` frames, or, without context, draw `n` videos of
        `size` from an all-zero previous frame. Completion: the first drawn frame keeps the
        pixels of `start` (uint8 `[B, C, H, W]`) where `given` (bool `[H, W]`) is set and
        draws the rest conditioned on them (`genvid.autoregressive.sampling.sample_raster`).
        Cached (`fast`: a wavefront of pixels per step, each step compiled if `compiled`: one
        compilation serves every frame) or naive decoding draw the same values from the same
        generator.
        `temperature` divides the logits (1.0: exact).

        Returns: uint8 `[B, steps, C, H, W]`.
        """
        if context is None:
            if n is None or size is None:
                raise ValueError("sample needs context=[B, Tc, C, H, W], or n and size")
            context = torch.zeros(n, 0, self.config.channels, *size, dtype=torch.uint8)
        elif n is not None or size is not None:
            raise ValueError("give either context or n and size, not both")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        context = self._check(context.to(self.device), "context")
        start = None if start is None else start.to(self.device)
        given = None if given is None else given.to(self.device)
        with eval_mode(self):
            if compiled:
                prepare_pixel_weights(self)
            previous, state = self._initial(context)
            for t in range(context.shape[1]):
                state = self._advance(previous, *state)
                previous = context[:, t]
            frames = []
            for t in range(steps):
                state = self._advance(previous, *state)
                previous = self._sample_frame(
                    state[0],
                    generator,
                    fast,
                    progress,
                    temperature,
                    compiled,
                    start=start if t == 0 else None,
                    given=given if t == 0 else None,
                )
                frames.append(previous)
            return torch.stack(frames, dim=1)
