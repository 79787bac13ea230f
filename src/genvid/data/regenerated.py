"""The regenerated Moving MNIST test set, streamed to a .npy file in the standard layout.

Any number of sequences: the disk space is checked before anything is generated, and the
sequences are made, scored and written a chunk at a time, so memory stays bounded. Sequence
i depends on (seed, i) alone (`genvid.data.moving_mnist`), hence the file is byte for byte
what `write_moving_mnist(path, regenerate_test_set(N, ...))` writes.
"""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path
from typing import IO

import numpy as np
from tqdm import tqdm

from genvid.atomic import atomic_write, check_replaceable
from genvid.data.moving_mnist import (
    CANVAS,
    TEST_SET_SEED,
    entropy_per_sequence,
    regenerated_moving_mnist,
    to_file_layout,
)
from genvid.data.srvp_mnist import TEST_SEED, TEST_SEQUENCES, SRVPTestSet

SEQUENCES_PER_WRITE = 256  # 21 MB of frames per chunk (26 MB at 25 frames)
CONTEXT_FRAMES = 10  # the entropy bound scores frames 11..T, the VPN protocol


def write_regenerated_test_set(
    out: str | Path, num_sequences: int, *, seed: int = TEST_SET_SEED, stochastic: bool = False
) -> str:
    """Write the first `num_sequences` regenerated sequences to `out` (T, N, 64, 64), atomically.

    Args:
        out: the .npy file to write; missing parent directories are made.
        num_sequences: N >= 1.
        seed: the set's seed (`regenerated_moving_mnist`).
        stochastic: SVG's stochastic bounces (25 frames), else Srivastava et al.'s (20).

    Returns:
        A one-line summary: the file, its shape, and the data's entropy lower bound in nats
        per frame over frames 11..T (`entropy_lower_bound`).
    """
    kind = "stochastic" if stochastic else "deterministic"
    return _write_sequences(
        out,
        num_sequences,
        lambda: regenerated_moving_mnist(seed, stochastic),
        f"Moving MNIST (regenerated, {kind}, seed {seed})",
    )


def write_srvp_test_set(out: str | Path, num_sequences: int, *, deterministic: bool = False) -> str:
    """Write the first `num_sequences` of SRVP's test set to `out` (T, N, 64, 64), atomically.

    The sequences are byte for byte the `sequences` array of the npz SRVP's make_test_set.py
    writes (`genvid.data.srvp_mnist`): 25 frames, or 100 with `deterministic`.
    """
    if num_sequences > TEST_SEQUENCES:
        raise ValueError(
            f"SRVP's test set has {TEST_SEQUENCES} sequences, asked for {num_sequences}"
        )
    kind = "deterministic" if deterministic else "stochastic"
    return _write_sequences(
        out,
        num_sequences,
        lambda: SRVPTestSet(deterministic=deterministic),
        f"SRVP's Moving MNIST test set ({kind}, seed {TEST_SEED})",
    )


def _write_sequences(out: str | Path, num_sequences: int, make_generator, label: str) -> str:
    """Stream sequences 0..N-1 of `make_generator()` (anything with `num_frames` and
    `sequences(indices)`) to a .npy file, after checking the output and the free space."""
    out = Path(out)
    if num_sequences < 1:
        raise ValueError(f"num_sequences must be >= 1, got {num_sequences}")
    directory = _writable_directory(out)
    generator = make_generator()
    frames = generator.num_frames
    shape = (frames, num_sequences, CANVAS, CANVAS)
    header = _npy_header(shape)
    size, free = len(header) + math.prod(shape), shutil.disk_usage(directory).free
    if size > free:
        raise ValueError(
            f"{out} would take {size / 1e9:,.1f} GB but {directory.resolve()} has "
            f"{free / 1e9:,.1f} GB free"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    entropy_sums: list[float] = []

    def write(file: IO[bytes]) -> None:
        file.write(header)
        with tqdm(total=num_sequences, desc="Moving MNIST", unit="seq", disable=None) as bar:
            for first in range(0, num_sequences, SEQUENCES_PER_WRITE):
                indices = np.arange(first, min(first + SEQUENCES_PER_WRITE, num_sequences))
                videos = generator.sequences(indices)  # (n, T, 1, 64, 64)
                entropy_sums.append(float(entropy_per_sequence(videos, CONTEXT_FRAMES).sum()))
                for t, frame in enumerate(to_file_layout(videos)):  # (n, 64, 64) at time t
                    file.seek(len(header) + (t * num_sequences + first) * CANVAS * CANVAS)
                    file.write(frame)
                bar.update(len(indices))

    atomic_write(out, write)
    bound = math.fsum(entropy_sums) / num_sequences
    return (
        f"wrote {out}: {label}, shape {shape}; "
        f"entropy lower bound {bound:.2f} nats/frame over frames {CONTEXT_FRAMES + 1}-{frames}"
    )


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """What `np.save` writes before the values of a uint8 array of `shape`."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    return header.getvalue()


def _writable_directory(out: Path) -> Path:
    """The existing directory that holds, or will hold, `out`; ValueError if there is none."""
    if out.suffix != ".npy":
        raise ValueError(f"{out}: name a .npy file (genvid reads Moving MNIST files by suffix)")
    if out.is_dir():
        raise ValueError(f"{out} is a directory; name the .npy file to write in it")
    check_replaceable(out)  # a FIFO or device: before the sequences are drawn
    directory = out.parent
    while not directory.exists():  # parents that are missing get made after the checks
        directory = directory.parent
    if not directory.is_dir():
        raise ValueError(f"{out}: {directory} is a file, not a directory")
    return directory
