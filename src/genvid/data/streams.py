"""Training data streams: every batch a pure function of (seed, step, rank, world_size).

The contract (docs/design.md, "Data streams"): `stream.batch(step, batch_size, rank,
world_size)` returns the examples at global positions `p = step * batch_size + rank * b + i`,
`i < b = batch_size // world_size`, so the ranks' batches concatenated in rank order are the
one-process batch, and a resumed run sees exactly the data an uninterrupted one would.

- A finite data set is visited in epochs: position p is item `perm(seed, p // N)[p % N]`, with
  `perm(seed, epoch)` drawn from `numpy.random.default_rng((seed, epoch, PERM_TAG))`. Dynamic
  binarisation draws position p's noise from `(seed, p)` (see `genvid.data.mnist.binarize`).
- Moving MNIST is unlimited: position p is sequence p, so no sequence is ever used twice.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from genvid.data.mnist import binarize as binarize_images
from genvid.data.moving_mnist import PERM_TAG, MovingMNIST


@runtime_checkable
class Stream(Protocol):
    """What the trainer consumes (docs/design.md)."""

    example_shape: tuple[int, ...]

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        """uint8 [batch_size // world_size, *example_shape]."""
        ...


def global_positions(step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
    """The global positions rank `rank` trains on at `step`: int64 (batch_size // world_size,)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if batch_size < 1 or world_size < 1:
        raise ValueError(f"batch_size and world_size must be >= 1, got {batch_size}, {world_size}")
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} is not divisible by world_size {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    local = batch_size // world_size
    start = step * batch_size + rank * local
    return np.arange(start, start + local, dtype=np.int64)


class TensorStream:
    """A finite uint8 data set visited in seeded epoch permutations.

    Args:
        data: uint8 [N, ...] examples (images [N, C, H, W] or videos [N, T, C, H, W]).
        seed: non-negative integer; fixes the permutations and the binarisation noise.
        binarize: replace grey levels by a Bernoulli draw of grey / 255 (dynamic
            binarisation), fresh for every global position.
    """

    def __init__(self, data: Tensor, *, seed: int, binarize: bool = False) -> None:
        if not isinstance(data, Tensor) or data.dtype != torch.uint8 or data.ndim < 2:
            kind = f"{data.dtype} {tuple(data.shape)}" if isinstance(data, Tensor) else type(data)
            raise ValueError(f"TensorStream wants uint8 examples [N, ...], got {kind}")
        if len(data) == 0:
            raise ValueError("TensorStream got an empty data set")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.data = data
        self.seed = int(seed)
        self.binarize = binarize
        self.example_shape = tuple(data.shape[1:])
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.data)

    def items(self, positions: np.ndarray) -> np.ndarray:
        """Which example each global position takes: int64 indices into `data`."""
        epochs, offsets = np.divmod(positions, len(self.data))
        items = np.empty_like(positions)
        for epoch in np.unique(epochs):
            chosen = epochs == epoch
            items[chosen] = self._perm(int(epoch))[offsets[chosen]]
        return items

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        positions = global_positions(step, batch_size, rank, world_size)
        examples = self.data[torch.from_numpy(self.items(positions))]
        if self.binarize:
            examples = binarize_images(examples, seed=self.seed, positions=positions)
        return examples

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) >= 4:
                self._perms.clear()
            rng = np.random.default_rng((self.seed, epoch, PERM_TAG))
            self._perms[epoch] = rng.permutation(len(self.data))
        return self._perms[epoch]


class GeneratedStream:
    """An unlimited generated data set as a stream: global position p is its item p.

    Args:
        generator: anything with `example_shape` and `sequences(indices) -> uint8 Tensor`
            whose items are pure functions of (seed, index): a `MovingMNIST`, an
            `SRVPMovingMNIST`.
    """

    def __init__(self, generator) -> None:
        self.generator = generator
        self.example_shape = generator.example_shape

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        return self.generator.sequences(global_positions(step, batch_size, rank, world_size))


class MovingMNISTStream(GeneratedStream):
    """Unlimited Moving MNIST: global position p is sequence p of a `MovingMNIST`.

    Args:
        digits: uint8 [N, 28, 28] or [N, 1, 28, 28] (MNIST-train for training).
        seed, num_frames, num_digits, stochastic: as `MovingMNIST`.
    """

    def __init__(
        self,
        digits: Tensor | np.ndarray,
        *,
        seed: int,
        num_frames: int = 20,
        num_digits: int = 2,
        stochastic: bool = False,
    ) -> None:
        super().__init__(
            MovingMNIST(
                digits,
                seed=seed,
                num_frames=num_frames,
                num_digits=num_digits,
                stochastic=stochastic,
            )
        )
