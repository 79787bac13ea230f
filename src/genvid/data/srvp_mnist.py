"""Stochastic Moving MNIST as SRVP makes it: the data set of the later literature's figures.

Franceschi, Delasalles, Chen, Lamprier & Gallinari 2020, "Stochastic Latent Residual Video
Prediction", arXiv 2002.09219, section 4.1 and appendix; the authors' `data/mmnist.py` and
`preprocessing/mmnist/make_test_set.py`. SLAMP (Akan et al. 2021) and later papers evaluate on
this set, so their SVG-LP and SRVP figures stand beside evaluations on it only. It differs
from SVG's generator (`genvid.data.moving_mnist`, stochastic mode) in every detail:

- 28x28 digits, not resized; the corner ranges over 0..36 (= 64 - 28) per axis.
- A digit starts at an integer corner uniform in 0..36 with an integer velocity uniform in
  {-4..4}^2, and moves by its velocity each frame in exact (float) positions. Each frame:
  resolve the walls, record the corner rounded to the nearest integer (half to even), step.
- At a wall the trajectory is reflected exactly: the point of contact is computed on the
  segment travelled, and the rest of the step continues from it with the new velocity; several
  bounces in one step are resolved in turn. Stochastic: at each bounce a new velocity is drawn
  from {-4..4}^2 and its component normal to the wall forced away from it (its sign, not its
  size). Deterministic: the normal component is reversed.
- Digits are summed and clipped at 255.

The test set is `make_test_set.py --seq_len 25` (stochastic) or its default 100 frames
(`--deterministic`): numpy's legacy generator seeded with 42, a permutation of the 10,000
MNIST-test digits, two consecutive digits of it per sequence, 5,000 sequences; the random
numbers are drawn in the reference's order, so `srvp_test_set` is byte-identical to the
`sequences` array of the reference's npz (checked against the reference code; the test pins
digests). Training sequences are made on the fly from MNIST-train digits, each a pure function
of `(seed, index)` (`numpy.random.default_rng((seed, index))`), with digits drawn at random with
replacement as the reference's training loader does.

Deviations:
- The reference's training loader draws from numpy's global generator in each worker; here a
  sequence owns its generator (STYLE.md): the same distribution, other draws.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genvid.data.mnist import load_mnist
from genvid.data.moving_mnist import draw_digits

CANVAS = 64  # frame height and width, px
DIGIT = 28  # digits are drawn at MNIST's size
LIMIT = CANVAS - DIGIT  # largest corner coordinate: 36
MAX_SPEED = 4  # velocities are integers in [-4, 4] px/frame
EPS = 1e-8  # tolerance of the wall tests, the reference's
TEST_SEED = 42  # make_test_set.py's default seed
TEST_SEQUENCES = 5_000  # 10,000 MNIST-test digits, two per sequence
TEST_FRAMES = {False: 25, True: 100}  # by `deterministic`: the published test sets' lengths
TRAIN_FRAMES = 15  # 5 given + 10 predicted, SVG's training setting on SM-MNIST
CHUNK = 256  # sequences drawn at once
NPZ_NAMES = {False: "smmnist_test_2digits_64.npz", True: "mmnist_test_2digits_64.npz"}

RandInt = Callable[[int, int], int]  # randint(low, high): an integer in [low, high)


def trajectory(randint: RandInt, num_frames: int, *, deterministic: bool) -> np.ndarray:
    """One digit's trajectory, drawing its random integers from `randint` in the reference's order.

    Returns:
        int64 (num_frames, 4): per frame the drawn corner (row, column), rounded, and the
        velocity (row, column) it leaves that frame with (the reference's "latents").
    """
    row, col = randint(0, LIMIT + 1), randint(0, LIMIT + 1)
    d_row = randint(-MAX_SPEED, MAX_SPEED + 1)
    d_col = randint(-MAX_SPEED, MAX_SPEED + 1)
    out = np.empty((num_frames, 4), dtype=np.int64)
    for t in range(num_frames):
        row, col, d_row, d_col = _bounce(randint, row, col, d_row, d_col, deterministic)
        out[t] = round(row), round(col), d_row, d_col
        row, col = row + d_row, col + d_col
    return out


def _outside(row: float, col: float) -> tuple[bool, bool, bool, bool]:
    """Which walls (top, left, bottom, right) a corner has crossed, beyond the tolerance."""
    return row < -EPS, col < -EPS, row > LIMIT + EPS, col > LIMIT + EPS


def _bounce(
    randint: RandInt, row: float, col: float, d_row: int, d_col: int, deterministic: bool
) -> tuple[float, float, int, int]:
    """Reflect a corner that the last step took beyond the walls, until it is inside.

    The step is retraced to where it first met a wall (the contact point); what remains of the
    step is then travelled from there with the new velocity. Walls are tested as the reference
    does (top, bottom, left, right), and a wall the retraced line meets outside the frame is
    not the one hit.
    """
    contact: tuple[float, float] | None = None  # kept across bounces, as the reference's
    top, left, bottom, right = _outside(row, col)
    while top or left or bottom or right:
        if d_row == 0:  # moving along a row: only a column wall can be hit
            contact = (row, 0) if left else (row, LIMIT)
        elif d_col == 0:
            contact = (0, col) if top else (LIMIT, col)
        else:
            slope = d_col / d_row  # column = slope * row + offset on the line travelled
            offset = col - slope * row
            if top:
                top, contact = _meets_row(0, slope, offset, contact)
            if bottom:
                bottom, contact = _meets_row(LIMIT, slope, offset, contact)
            if left:
                left, contact = _meets_col(0, slope, offset, contact)
            if right:
                right, contact = _meets_col(LIMIT, slope, offset, contact)
        assert contact is not None, "a crossed wall always has a contact point"
        # the fraction of the step still to travel after the contact point
        rest = (row - contact[0]) / d_row if d_row != 0 else (col - contact[1]) / d_col
        if not deterministic:
            d_row = randint(-MAX_SPEED, MAX_SPEED + 1)
            d_col = randint(-MAX_SPEED, MAX_SPEED + 1)
        if top:
            d_row = abs(d_row)
        if bottom:
            d_row = -abs(d_row)
        if left:
            d_col = abs(d_col)
        if right:
            d_col = -abs(d_col)
        row, col = contact[0] + d_row * rest, contact[1] + d_col * rest
        top, left, bottom, right = _outside(row, col)
    return row, col, d_row, d_col


def _meets_row(
    row: int, slope: float, offset: float, contact: tuple[float, float] | None
) -> tuple[bool, tuple[float, float] | None]:
    """Whether the line meets the wall at `row` inside the frame, and the contact point then
    (else the previous contact is kept)."""
    col = slope * row + offset
    if -EPS <= col <= LIMIT + EPS:
        return True, (row, col)
    return False, contact


def _meets_col(
    col: int, slope: float, offset: float, contact: tuple[float, float] | None
) -> tuple[bool, tuple[float, float] | None]:
    """As `_meets_row`, for the wall at column `col`."""
    row = (col - offset) / slope
    if -EPS <= row <= LIMIT + EPS:
        return True, (row, col)
    return False, contact


def _digits_of(root: str | Path | None, split: str) -> np.ndarray:
    images, _ = load_mnist(split, root)  # uint8 (N, 1, 28, 28)
    return images[:, 0].numpy()


class SRVPTestSet:
    """SRVP's fixed test set, made as the reference's make_test_set.py makes it.

    The reference draws every sequence from one generator in order, so sequence i depends on
    all before it: the trajectories (small) are computed in order up to the largest index
    asked for and kept; the frames are drawn only for the sequences asked for.

    Args:
        deterministic: the deterministic set (reversed velocities at the walls, 100 frames).
        num_frames: T; None: the published length (25 stochastic, 100 deterministic).
        root: directory of the MNIST IDX files; None: the shipped copy.
    """

    num_digits = 2

    def __init__(
        self, *, deterministic: bool = False, num_frames: int | None = None, root=None
    ) -> None:
        self.deterministic = deterministic
        self.num_frames = num_frames if num_frames is not None else TEST_FRAMES[deterministic]
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        self.digits = _digits_of(root, "test")
        self._rng = np.random.RandomState(TEST_SEED)
        self._order = self._rng.permutation(len(self.digits))  # before any trajectory, as there
        self._trajectories: list[np.ndarray] = []  # (D, T, 4) per sequence made so far

    def __len__(self) -> int:
        return len(self.digits) // self.num_digits

    @property
    def example_shape(self) -> tuple[int, int, int, int]:
        return (self.num_frames, 1, CANVAS, CANVAS)

    def trajectories(self, count: int) -> np.ndarray:
        """The first `count` sequences' trajectories: int64 (count, D, T, 4)."""
        if not 0 <= count <= len(self):
            raise ValueError(f"SRVP's test set has {len(self)} sequences, asked for {count}")
        randint = lambda low, high: int(self._rng.randint(low, high))  # noqa: E731
        while len(self._trajectories) < count:
            self._trajectories.append(
                np.stack(
                    [
                        trajectory(randint, self.num_frames, deterministic=self.deterministic)
                        for _ in range(self.num_digits)
                    ]
                )
            )
        return np.stack(self._trajectories[:count]) if count else np.zeros((0, 2, 0, 4), int)

    def sequences(self, indices: Sequence[int] | np.ndarray) -> Tensor:
        """Sequences `indices` of the set: uint8 [n, T, 1, 64, 64]."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(f"SRVP's test set holds sequences 0..{len(self) - 1}")
        count = int(indices.max()) + 1 if len(indices) else 0
        corners = self.trajectories(count)[indices][..., :2].transpose(0, 2, 1, 3)  # (n, T, D, 2)
        slots = indices[:, None] * self.num_digits + np.arange(self.num_digits)  # (n, D)
        return _draw_in_chunks(self.digits[self._order[slots]], corners)


@dataclass
class SRVPMovingMNIST:
    """Unlimited SRVP sequences; item i is a pure function of (seed, i) (training, validation).

    Args:
        digits: uint8 [N, 28, 28] MNIST digits (MNIST-train for training).
        seed: non-negative integer.
        num_frames: frames per sequence T.
        deterministic: reversed velocities at the walls instead of new random ones.
    """

    digits: np.ndarray
    seed: int
    num_frames: int = TRAIN_FRAMES
    deterministic: bool = False
    num_digits: int = 2

    def __post_init__(self) -> None:
        self.digits = np.asarray(self.digits)
        if self.digits.ndim == 4 and self.digits.shape[1] == 1:
            self.digits = self.digits[:, 0]
        if self.digits.dtype != np.uint8 or self.digits.shape[1:] != (DIGIT, DIGIT):
            raise ValueError(f"digits must be uint8 [N, 28, 28], got {self.digits.shape}")
        if len(self.digits) == 0:
            raise ValueError("digits is empty")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")

    @property
    def example_shape(self) -> tuple[int, int, int, int]:
        return (self.num_frames, 1, CANVAS, CANVAS)

    def sequences(self, indices: Sequence[int] | np.ndarray | Tensor) -> Tensor:
        """Sequences `indices`: uint8 [n, T, 1, 64, 64]."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and indices.min() < 0:
            raise ValueError(f"sequence indices must be non-negative, got {int(indices.min())}")
        ids = np.empty((len(indices), self.num_digits), dtype=np.int64)
        corners = np.empty((len(indices), self.num_frames, self.num_digits, 2), dtype=np.int64)
        for row, index in enumerate(indices):
            rng = np.random.default_rng((self.seed, int(index)))
            randint = lambda low, high: int(rng.integers(low, high))  # noqa: E731, B023
            for d in range(self.num_digits):
                ids[row, d] = randint(0, len(self.digits))
                corners[row, :, d] = trajectory(
                    randint, self.num_frames, deterministic=self.deterministic
                )[:, :2]
        return _draw_in_chunks(self.digits[ids], corners)


def _draw_in_chunks(glyphs: np.ndarray, corners: np.ndarray) -> Tensor:
    """`draw_digits` (summed, clipped) a few hundred sequences at a time: bounded memory."""
    out = np.empty((len(corners), corners.shape[1], 1, CANVAS, CANVAS), dtype=np.uint8)
    for start in range(0, len(corners), CHUNK):
        part = slice(start, start + CHUNK)
        out[part, :, 0] = draw_digits(glyphs[part], corners[part], combine="sum")
    return torch.from_numpy(out)


def read_srvp_npz(path: str | Path) -> Tensor:
    """The `sequences` array of SRVP's test-set npz file: uint8 [N, T, 1, 64, 64].

    Args:
        path: the npz file make_test_set.py wrote, or the directory holding it (either name).
    """
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in NPZ_NAMES.values() if (path / name).is_file()]
        if not found:
            raise FileNotFoundError(f"no {' or '.join(NPZ_NAMES.values())} in {path.resolve()}")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"no SRVP test file at {path.resolve()}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            array = archive["sequences"] if "sequences" in names else None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable npz file ({error})") from None
    if array is None:
        raise ValueError(f"{path}: no 'sequences' array (holds {', '.join(names)})")
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[2:] != (CANVAS, CANVAS):
        raise ValueError(
            f"{path}: 'sequences' is {array.dtype} {array.shape}, expected uint8 (T, N, 64, 64)"
        )
    return torch.from_numpy(np.ascontiguousarray(array.transpose(1, 0, 2, 3))[:, :, None])
