"""Trainer fixtures: a tiny Bernoulli model and a tiny stream that honour the contracts of
docs/design.md (`model(batch) -> {"loss": ...}`; `stream.batch` a pure function of
(seed, step, rank, world_size) whose rank batches concatenate to the one-process batch).

The model is not causal: it is a fixture for the trainer, not a density.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.models.base import LikelihoodModel


class TinyBernoulli(LikelihoodModel):
    """Two convolutions giving a Bernoulli logit per pixel of binary images."""

    def __init__(self, channels: int = 1, hidden: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.dropout = nn.Dropout(dropout)  # draws from torch's generator: tests resume's RNG
        self.conv2 = nn.Conv2d(hidden, channels, 1)

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        logits = self.conv2(self.dropout(torch.relu(self.conv1(x.float() * 2 - 1))))
        return F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")


class NaNAfter(TinyBernoulli):
    """Its loss turns NaN from its `bad_call`-th forward call on (1-based)."""

    def __init__(self, bad_call: int) -> None:
        super().__init__()
        self.bad_call = bad_call
        self.calls = 0

    def forward(self, batch: Tensor) -> dict[str, Tensor]:
        self.calls += 1
        out = super().forward(batch)
        if self.calls >= self.bad_call:
            out["loss"] = out["loss"] * float("nan")
        return out


class TinyStream:
    """Random binary images; example p of the global order is drawn from rng((seed, p)).

    With `num_examples` the stream cycles over that many examples (a fixed batch when
    `num_examples == batch_size`).
    """

    def __init__(
        self, seed: int = 0, shape: tuple[int, ...] = (1, 8, 8), num_examples: int | None = None
    ) -> None:
        self.seed = seed
        self.example_shape = shape
        self.num_examples = num_examples

    def example(self, position: int) -> Tensor:
        if self.num_examples is not None:
            position %= self.num_examples
        rng = np.random.default_rng((self.seed, position))
        return torch.from_numpy(rng.integers(0, 2, self.example_shape, dtype=np.uint8))

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} does not split over {world_size} ranks")
        local = batch_size // world_size
        first = step * batch_size + rank * local
        return torch.stack([self.example(first + i) for i in range(local)])


class StopAt:
    """A stream that raises KeyboardInterrupt when asked for update `step`: a killed run."""

    def __init__(self, stream: TinyStream, step: int) -> None:
        self.stream = stream
        self.step = step
        self.example_shape = stream.example_shape

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        if step == self.step:
            raise KeyboardInterrupt(f"killed before update {step + 1}")
        return self.stream.batch(step, batch_size, rank, world_size)


class ClipStream(TinyStream):
    """Random black-and-white 16-frame 64x64 clips (0 or 255), for the video GAN's trainer tests."""

    def __init__(self, seed: int = 0, num_examples: int | None = None) -> None:
        super().__init__(seed, (16, 1, 64, 64), num_examples)

    def example(self, position: int) -> Tensor:
        return super().example(position) * 255
