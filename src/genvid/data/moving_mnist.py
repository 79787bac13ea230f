"""Moving MNIST, generated on the fly: deterministic and stochastic bounces.

Deterministic (Srivastava, Mansimov & Salakhutdinov 2015, arXiv 1502.04681, section 3; the
authors' `BouncingMNISTDataHandler`): 28x28 digits on a 64x64 canvas, 20 frames. Each digit
starts uniform in [0, 1)^2 in units of the free range 36 px (= 64 - 28), heads in direction
theta ~ U[0, 2 pi) with velocity (sin theta, cos theta) for (row, column), and moves a fixed
0.1 of the free range per frame. Each frame: step, then bounce (a coordinate <= 0 is set to 0,
one >= 1 to 1, and that velocity component negated), then draw with top-left corner
`int(36 * position)`. Digits overlap by pixel-wise maximum.

Stochastic (Denton & Fergus 2018, arXiv 1802.07687, section 4.1; their `moving_mnist.py`):
digits resized to 32x32 (PIL bilinear, as torchvision's `Scale`), corners start uniform in
{0..31} per axis with integer velocities uniform in {-4..4}. Each frame: walls, then draw, then
step. A corner below 0 is set to 0 and one at or beyond 32 to 31; the component normal to that
wall gets a random speed 1-4 away from it and the other component is redrawn in {-4..4} (rows
are checked before columns, so in a corner the column bounce redraws the row speed, as in the
reference code). Digits are summed and clipped to 1.

Purity: a sequence is a function of `(seed, index)` alone. Its trajectory draws from
`numpy.random.default_rng((seed, index))`; digit slot `k = index * num_digits + d` takes digit
`perm(seed, k // N)[k % N]`, with `perm(seed, epoch)` a permutation of the N digits drawn from
`default_rng((seed, epoch, PERM_TAG))`. Digits are thus "taken in order from a shuffled index,
reshuffled when exhausted", yet any worker can make sequence `index` without the others. The
global RNG is never touched.

Deviations:
- The reference generators draw from one global stream, so their sequences depend on call
  order; here each sequence owns its stream (STYLE.md), which changes which random numbers
  are used but not their distributions.
- Stochastic bounces draw their random velocities from a table drawn up front for each
  (frame, digit, axis); only the entries of frames that hit a wall are used.
- Frames are uint8 = 255 * value exactly: MNIST pixels are k/255, and the maximum (or the
  clipped sum) of such values is computed in integers, so no rounding is involved.
- The standard test file `mnist_test_seq.npy` is not available offline; `regenerate_test_set`
  writes an equivalent set from MNIST-test digits with seed `TEST_SET_SEED`. Call it "Moving
  MNIST (regenerated, seed 150204681)", never the standard file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from genvid.atomic import atomic_write
from genvid.data.mnist import load_mnist
from genvid.errors import first_line

CANVAS = 64  # frame height and width, px
DIGIT = 28  # deterministic digit size, px
FREE = CANVAS - DIGIT  # free range of a deterministic digit's corner: 36 px
STEP = 0.1  # deterministic speed, in units of the free range per frame
SVG_DIGIT = 32  # stochastic digit size, px
SVG_LIMIT = CANVAS - SVG_DIGIT - 1  # largest stochastic corner coordinate: 31
SVG_MAX_SPEED = 4  # stochastic velocities are integers in [-4, 4] px/frame
TEST_SET_SEED = 150204681  # seed of the regenerated test set (Srivastava et al.'s arXiv id)
PERM_TAG = 0x5045524D  # "PERM": keeps digit permutations apart from trajectory streams
_CHUNK = 256  # sequences drawn at once (bounds the index arrays to ~30 MB)


@dataclass(frozen=True)
class Trajectory:
    """Where each digit of a batch of sequences is, frame by frame.

    Shape: every field is (n, T, D, 2) with the last axis (row, column).
    """

    corners: np.ndarray  # int64 top-left corner of each digit as drawn, px
    positions: np.ndarray  # float64: deterministic: corner / 36 before truncation; else corners
    velocities: np.ndarray  # float64 velocity after frame t's bounce (deterministic: per frame
    # in units of the free range / STEP; stochastic: px/frame), the one that leads to frame t+1


class MovingMNIST:
    """An unlimited set of Moving MNIST sequences; item i is a pure function of (seed, i).

    Args:
        digits: uint8 [N, 28, 28] or [N, 1, 28, 28] MNIST digits (MNIST-train for training).
        seed: non-negative integer.
        num_frames: frames per sequence T.
        num_digits: digits per sequence D.
        stochastic: SVG's stochastic bounces with 32x32 digits (else Srivastava et al.).

    Shape:
        `self[i]`: uint8 [T, 1, 64, 64]; `sequences(indices)`: uint8 [n, T, 1, 64, 64].
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
        array = digits.cpu().numpy() if isinstance(digits, Tensor) else np.asarray(digits)
        if array.ndim == 4 and array.shape[1] == 1:
            array = array[:, 0]
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[1:] != (DIGIT, DIGIT):
            raise ValueError(
                f"digits must be uint8 [N, 28, 28] or [N, 1, 28, 28], "
                f"got {array.dtype} {tuple(digits.shape)}"
            )
        if len(array) == 0:
            raise ValueError("digits is empty")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if num_digits < 1:
            raise ValueError(f"num_digits must be >= 1, got {num_digits}")
        self.digits = np.ascontiguousarray(array)
        self.seed = int(seed)
        self.num_frames = num_frames
        self.num_digits = num_digits
        self.stochastic = stochastic
        self._perms: dict[int, np.ndarray] = {}

    @property
    def example_shape(self) -> tuple[int, int, int, int]:
        return (self.num_frames, 1, CANVAS, CANVAS)

    def __getitem__(self, index: int) -> Tensor:
        if not isinstance(index, (int, np.integer)) or index < 0:
            raise IndexError(f"Moving MNIST index must be a non-negative integer, got {index!r}")
        return self.sequences([index])[0]

    def sequences(self, indices: Sequence[int] | np.ndarray | Tensor) -> Tensor:
        """Sequences `indices`, vectorised: uint8 [n, T, 1, 64, 64]."""
        indices = _as_indices(indices)
        out = np.zeros((len(indices), self.num_frames, 1, CANVAS, CANVAS), dtype=np.uint8)
        for start in range(0, len(indices), _CHUNK):
            chunk = indices[start : start + _CHUNK]
            corners = self.trajectories(chunk).corners
            out[start : start + len(chunk), :, 0] = self._draw(self.digit_ids(chunk), corners)
        return torch.from_numpy(out)

    def digit_ids(self, indices: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
        """Which MNIST digit fills each slot: int64 (n, D) indices into `self.digits`."""
        indices = _as_indices(indices)
        n_digits = len(self.digits)
        slots = indices[:, None] * self.num_digits + np.arange(self.num_digits)  # (n, D)
        epochs, offsets = np.divmod(slots, n_digits)
        ids = np.empty_like(slots)
        for epoch in np.unique(epochs):
            chosen = epochs == epoch
            ids[chosen] = self._perm(int(epoch))[offsets[chosen]]
        return ids

    def trajectory(self, index: int) -> Trajectory:
        """The trajectory of one sequence (fields (T, D, 2))."""
        batch = self.trajectories([index])
        return Trajectory(batch.corners[0], batch.positions[0], batch.velocities[0])

    def trajectories(self, indices: Sequence[int] | np.ndarray | Tensor) -> Trajectory:
        """Trajectories of sequences `indices` (fields (n, T, D, 2))."""
        indices = _as_indices(indices)
        rngs = [np.random.default_rng((self.seed, int(i))) for i in indices]
        if self.stochastic:
            return self._stochastic_trajectories(rngs)
        return self._deterministic_trajectories(rngs)

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) >= 8:  # a batch spans at most a few epochs
                self._perms.clear()
            rng = np.random.default_rng((self.seed, epoch, PERM_TAG))
            self._perms[epoch] = rng.permutation(len(self.digits))
        return self._perms[epoch]

    def _deterministic_trajectories(self, rngs: list[np.random.Generator]) -> Trajectory:
        draws = np.stack([rng.random((3, self.num_digits)) for rng in rngs])  # (n, 3, D)
        position = np.stack([draws[:, 0], draws[:, 1]], axis=-1)  # (n, D, 2) rows, columns
        theta = 2 * math.pi * draws[:, 2]
        velocity = np.stack([np.sin(theta), np.cos(theta)], axis=-1)  # (n, D, 2)
        shape = (len(rngs), self.num_frames, self.num_digits, 2)
        positions, velocities = np.empty(shape), np.empty(shape)
        for t in range(self.num_frames):
            position = position + velocity * STEP
            low, high = position <= 0, position >= 1
            position = np.clip(position, 0.0, 1.0)
            velocity = np.where(low | high, -velocity, velocity)
            positions[:, t], velocities[:, t] = position, velocity
        corners = (FREE * positions).astype(np.int64)  # truncation, as the reference code
        return Trajectory(corners, positions, velocities)

    def _stochastic_trajectories(self, rngs: list[np.random.Generator]) -> Trajectory:
        n, frames, digits = len(rngs), self.num_frames, self.num_digits
        start = np.empty((n, digits, 2), dtype=np.int64)
        velocity = np.empty((n, digits, 2), dtype=np.int64)
        speeds = np.empty((n, frames, digits, 2), dtype=np.int64)  # normal speed per wall axis
        others = np.empty((n, frames, digits, 2), dtype=np.int64)  # redrawn other component
        for row, rng in enumerate(rngs):
            start[row] = rng.integers(0, SVG_LIMIT + 1, (digits, 2))
            velocity[row] = rng.integers(-SVG_MAX_SPEED, SVG_MAX_SPEED + 1, (digits, 2))
            speeds[row] = rng.integers(1, SVG_MAX_SPEED + 1, (frames, digits, 2))
            others[row] = rng.integers(-SVG_MAX_SPEED, SVG_MAX_SPEED + 1, (frames, digits, 2))
        corners = np.empty((n, frames, digits, 2), dtype=np.int64)
        velocities = np.empty((n, frames, digits, 2), dtype=np.int64)
        position = start
        for t in range(frames):
            for axis in (0, 1):  # rows first, then columns, as the reference code
                low, high = position[..., axis] < 0, position[..., axis] > SVG_LIMIT
                position[..., axis] = np.clip(position[..., axis], 0, SVG_LIMIT)
                speed = speeds[:, t, :, axis]
                normal = np.where(low, speed, np.where(high, -speed, velocity[..., axis]))
                other = np.where(low | high, others[:, t, :, axis], velocity[..., 1 - axis])
                velocity[..., axis], velocity[..., 1 - axis] = normal, other
            corners[:, t], velocities[:, t] = position, velocity
            position = position + velocity
        return Trajectory(corners, corners.astype(np.float64), velocities.astype(np.float64))

    def _draw(self, ids: np.ndarray, corners: np.ndarray) -> np.ndarray:
        glyphs = _resize(self.digits, ids, SVG_DIGIT) if self.stochastic else self.digits[ids]
        return draw_digits(glyphs, corners, combine="sum" if self.stochastic else "max")


def draw_digits(
    glyphs: np.ndarray, corners: np.ndarray, *, combine: Literal["max", "sum"]
) -> np.ndarray:
    """Paste each sequence's digits at their corners, frame by frame.

    Args:
        glyphs: uint8 (n, D, s, s), the digits of each sequence.
        corners: int64 (n, T, D, 2), each digit's top-left corner (row, column) per frame; a
            digit must lie inside the canvas.
        combine: how overlapping digits mix: pixel-wise "max" (Srivastava et al.) or "sum"
            clipped at 255 (SVG, SRVP).

    Returns:
        uint8 (n, T, 64, 64).
    """
    n, frames, digits, _ = corners.shape
    size = glyphs.shape[-1]
    offsets = (np.arange(size)[:, None] * CANVAS + np.arange(size)).ravel()  # (size**2,)
    frame_starts = np.arange(n * frames).reshape(n, frames) * CANVAS * CANVAS
    canvas = np.zeros(n * frames * CANVAS * CANVAS, np.uint16 if combine == "sum" else np.uint8)
    for d in range(digits):
        corner = corners[:, :, d, 0] * CANVAS + corners[:, :, d, 1]  # (n, T)
        where = (frame_starts + corner)[..., None] + offsets  # (n, T, size**2)
        values = np.broadcast_to(glyphs[:, d].reshape(n, 1, -1), where.shape)
        if combine == "sum":
            canvas[where] += values  # one digit never covers a pixel twice
        else:
            canvas[where] = np.maximum(canvas[where], values)
    if combine == "sum":
        canvas = np.minimum(canvas, 255).astype(np.uint8)
    return canvas.reshape(n, frames, CANVAS, CANVAS)


def _as_indices(indices: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
    array = indices.cpu().numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    array = array.astype(np.int64).reshape(-1) if array.size else np.zeros(0, np.int64)
    if (array < 0).any():
        raise ValueError(f"sequence indices must be non-negative, got {int(array.min())}")
    return array


def _resize(digits: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """Digits `ids` (n, D) resized to size x size with PIL bilinear: uint8 (n, D, size, size)."""
    unique, inverse = np.unique(ids, return_inverse=True)
    resized = np.stack(
        [
            np.asarray(Image.fromarray(digits[i]).resize((size, size), Image.BILINEAR))
            for i in unique
        ]
    )
    return resized[inverse.reshape(ids.shape)]


def regenerate_test_set(
    num_sequences: int = 10_000,
    seed: int = TEST_SET_SEED,
    stochastic: bool = False,
    *,
    num_frames: int | None = None,
    num_digits: int = 2,
    root: str | Path | None = None,
) -> Tensor:
    """A fixed Moving MNIST test set from MNIST-test digits: uint8 [N, T, 1, 64, 64].

    Sequence i is the same whatever `num_sequences` is, so the first k sequences of the full
    set can be made on their own. Label results "Moving MNIST (regenerated, seed S)".

    Args:
        num_sequences: N.
        seed, stochastic, num_frames, num_digits, root: as `regenerated_moving_mnist`.
    """
    if num_sequences < 0:
        raise ValueError(f"num_sequences must be >= 0, got {num_sequences}")
    generator = regenerated_moving_mnist(
        seed, stochastic, num_frames=num_frames, num_digits=num_digits, root=root
    )
    return generator.sequences(np.arange(num_sequences))


def regenerated_moving_mnist(
    seed: int = TEST_SET_SEED,
    stochastic: bool = False,
    *,
    num_frames: int | None = None,
    num_digits: int = 2,
    root: str | Path | None = None,
) -> MovingMNIST:
    """The generator of the regenerated test set: its item i is the set's sequence i.

    Args:
        seed: the set's seed; the default `TEST_SET_SEED` (150204681) is genvid's test set.
        stochastic: SVG's stochastic bounces.
        num_frames: T; None: 20 (Srivastava et al.), or 25 when stochastic (5 context frames
            and 20 predicted, the SVG test protocol).
        num_digits: digits per sequence.
        root: directory of the MNIST IDX files; None: the shipped copy.
    """
    frames = num_frames if num_frames is not None else (25 if stochastic else 20)
    digits, _ = load_mnist("test", root)
    return MovingMNIST(
        digits, seed=seed, num_frames=frames, num_digits=num_digits, stochastic=stochastic
    )


def _entropy_table() -> np.ndarray:
    p = np.arange(256, dtype=np.float64) / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        table = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    table[[0, 255]] = 0.0  # 0 log 0 = 0
    return table


def entropy_per_sequence(videos: Tensor | np.ndarray, context: int = 10) -> np.ndarray:
    """Each sequence's Bernoulli entropy in nats per frame over its predicted frames.

    The VPN lower bound (Kalchbrenner et al. 2017, arXiv 1610.00527, section 5.1): with sigmoid
    cross-entropy against p = x / 255, the least achievable loss is the data's own entropy,
    sum over pixels of -p log p - (1 - p) log(1 - p), averaged over frames `context+1..T`.

    Args:
        videos: uint8 [N, T, C, H, W].
        context: frames given as context; the remaining T - context frames count.

    Returns:
        float64 (N,): nats per frame, per sequence.
    """
    array = videos.cpu().numpy() if isinstance(videos, Tensor) else np.asarray(videos)
    if array.dtype != np.uint8 or array.ndim != 5:
        raise ValueError(f"expected uint8 videos [N, T, C, H, W], got {array.dtype} {array.shape}")
    if not 0 <= context < array.shape[1]:
        raise ValueError(f"context must be in [0, T) with T = {array.shape[1]}, got {context}")
    table = _entropy_table()
    predicted = array.shape[1] - context
    out = np.empty(len(array))
    for start in range(0, len(array), 500):  # chunks keep the int64 copy small
        part = array[start : start + 500, context:]
        rows = len(part)
        flat = part.reshape(rows, -1).astype(np.int64) + 256 * np.arange(rows)[:, None]
        counts = np.bincount(flat.ravel(), minlength=256 * rows).reshape(rows, 256)
        out[start : start + rows] = counts @ table / predicted
    return out


def entropy_lower_bound(videos: Tensor | np.ndarray, context: int = 10) -> float:
    """The VPN lower bound in nats per frame: the mean of `entropy_per_sequence`."""
    return float(entropy_per_sequence(videos, context).mean())


def check_frames(videos: Tensor | np.ndarray, *, context: int, predicted: int, source: str) -> None:
    """Raise ValueError, naming `source`, unless `videos` has the frames a protocol needs.

    Args:
        videos: [N, T, C, H, W], e.g. from `eval_set` or `from_file_layout`.
        context: frames given to the model.
        predicted: frames it must predict after them; T >= context + predicted.
        source: what the videos came from (a file's path, a data set's name).
    """
    if len(videos.shape) != 5:
        raise ValueError(
            f"{source}: expected videos [N, T, C, H, W], got shape {tuple(videos.shape)}"
        )
    needed = context + predicted
    if videos.shape[1] < needed:
        raise ValueError(
            f"{source} has {videos.shape[1]} frames; the protocol needs {needed} "
            f"({context} context + {predicted} predicted)"
        )


def to_file_layout(videos: Tensor | np.ndarray) -> np.ndarray:
    """[N, T, 1, H, W] -> the standard file layout (T, N, H, W), both uint8."""
    array = videos.cpu().numpy() if isinstance(videos, Tensor) else np.asarray(videos)
    if array.dtype != np.uint8 or array.ndim != 5 or array.shape[2] != 1:
        raise ValueError(f"expected uint8 videos [N, T, 1, H, W], got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array[:, :, 0].transpose(1, 0, 2, 3))


def from_file_layout(array: np.ndarray) -> Tensor:
    """The standard file layout (T, N, H, W) -> uint8 [N, T, 1, H, W]."""
    if array.dtype != np.uint8 or array.ndim != 4:
        raise ValueError(f"expected uint8 (T, N, H, W), got {array.dtype} {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array.transpose(1, 0, 2, 3))[:, :, None])


def write_moving_mnist(path: str | Path, videos: Tensor | np.ndarray) -> Path:
    """Write videos [N, T, 1, 64, 64] uint8 as a (T, N, 64, 64) .npy file, atomically.

    The file is written to a temporary file beside `path`, flushed, fsynced and moved into
    place with `os.replace`, so an interrupted write never leaves a partial file.
    """
    array = to_file_layout(videos)
    if array.shape[2:] != (CANVAS, CANVAS):
        raise ValueError(f"frames must be 64x64, got {array.shape[2]}x{array.shape[3]}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: np.save(file, array, allow_pickle=False))
    return path


def read_moving_mnist(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """Read a Moving MNIST file in the standard layout: uint8 (T, N, 64, 64).

    Reads `mnist_test_seq.npy` (T = 20) as well as files from `write_moving_mnist`. `mmap`
    maps the file instead of reading it (the standard file is 819 MB).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Moving MNIST file at {path.resolve()}")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy file ({first_line(error)})") from None
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{path}: holds several arrays (an npz?), expected one .npy array")
    if array.ndim != 4:
        raise ValueError(
            f"{path}: array has {array.ndim} dimensions {array.shape}, expected 4 (T, N, 64, 64)"
        )
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: dtype {array.dtype}, expected uint8")
    if array.shape[2:] != (CANVAS, CANVAS):
        raise ValueError(
            f"{path}: frames are {array.shape[2]}x{array.shape[3]}, expected 64x64 "
            f"in layout (T, N, 64, 64)"
        )
    return array
