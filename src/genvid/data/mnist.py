"""MNIST from IDX files, the fixed binarized MNIST, and dynamic binarisation.

MNIST (LeCun, Cortes & Burges, 1998) ships as four IDX files: a big-endian header (magic
number `0x0000 TT NN`, type byte `TT`, `NN` dimensions, then `NN` uint32 sizes) followed by
the values. The fixed binarized MNIST is the one stochastic binarisation of Salakhutdinov &
Murray (2008) as distributed by Larochelle (50,000 / 10,000 / 10,000), the benchmark of the
PixelCNN/PixelRNN papers (van den Oord et al. 2016, arXiv 1601.06759); genvid ships it as a
`numpy.packbits` npz whose bytes were verified against the published `.amat` SHA-1 sums.

Both ship inside the package (`genvid/data/assets/`), so nothing is ever downloaded.

Deviations: `read_idx` accepts only unsigned-byte IDX files (type 0x08) with 1 or 3
dimensions, which is all MNIST uses.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

ASSETS = Path(__file__).resolve().parent / "assets"
MNIST_DIR = ASSETS / "mnist"
BINARIZED_MNIST_PATH = ASSETS / "binarized_mnist" / "binarized_mnist_larochelle_packbits.npz"

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Tag mixed into the seed of binarisation noise, so that it never shares a random stream
# with a permutation or a Moving MNIST trajectory drawn from the same user seed.
_BINARIZE_TAG = 0x42494E41  # "BINA"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip-compressed or raw, told apart by content).

    Args:
        path: an MNIST images (magic 0x00000803) or labels (magic 0x00000801) file.

    Returns:
        uint8 array of the declared shape: (N, rows, columns) or (N,).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not gzip-readable, wrong magic number, or a byte length that differs
            from the one the header declares (truncated file or extra bytes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no IDX file at {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: not a readable gzip file ({error})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(
            f"{path}: magic number 0x{magic:08X} is not an unsigned-byte IDX file "
            f"(expected 0x{IMAGES_MAGIC:08X} for images or 0x{LABELS_MAGIC:08X} for labels)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} of {header} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "extra bytes"
        raise ValueError(
            f"{path}: {problem}: header declares shape {shape} ({expected} bytes), "
            f"file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_file(root: Path, stem: str) -> Path:
    # Accept the canonical names with or without .gz, and the dotted variant some mirrors use.
    names = [stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")]
    for name in names:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"no MNIST file {stem}[.gz] in {root}")


@lru_cache(maxsize=4)
def _mnist_arrays(split: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    image_stem, label_stem = _STEMS[split]
    images = read_idx(find_idx_file(Path(root), image_stem))
    labels = read_idx(find_idx_file(Path(root), label_stem))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"MNIST {split} images in {root}: shape {images.shape}, expected (N, 28, 28)"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"MNIST {split} in {root}: {len(images)} images but labels of shape {labels.shape}"
        )
    if labels.max(initial=0) > 9:
        raise ValueError(f"MNIST {split} labels in {root}: value {labels.max()} outside 0-9")
    return images, labels


def load_mnist(
    split: Literal["train", "test"] = "train", root: str | Path | None = None
) -> tuple[Tensor, Tensor]:
    """Grey MNIST images and labels.

    Args:
        split: "train" (60,000) or "test" (10,000).
        root: directory holding the four IDX files (`.gz` or raw); None: the shipped copy.

    Returns:
        images: uint8 [N, 1, 28, 28], grey levels 0-255.
        labels: int64 [N], 0-9.
    """
    if split not in _STEMS:
        raise ValueError(f"MNIST split must be 'train' or 'test', got {split!r}")
    images, labels = _mnist_arrays(split, str(Path(root) if root is not None else MNIST_DIR))
    return (
        torch.tensor(images).unsqueeze(1),  # (N, 1, 28, 28)
        torch.tensor(labels, dtype=torch.int64),
    )


def load_binarized_mnist(
    split: Literal["train", "valid", "test"] = "train", path: str | Path | None = None
) -> Tensor:
    """The fixed binarized MNIST of Salakhutdinov & Murray (2008), Larochelle's split.

    Args:
        split: "train" (50,000), "valid" (10,000) or "test" (10,000; MNIST-test sorted by
            label, binarised once).
        path: the packbits npz (keys train/valid/test, each (N, 98) uint8); None: shipped copy.

    Returns:
        uint8 [N, 1, 28, 28] with values 0/1.
    """
    if split not in ("train", "valid", "test"):
        raise ValueError(f"binarized MNIST split must be train, valid or test, got {split!r}")
    path = Path(path) if path is not None else BINARIZED_MNIST_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no binarized MNIST npz at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if split not in archive.files:
                raise ValueError(f"{path}: no key {split!r} (keys: {sorted(archive.files)})")
            packed = archive[split]
    except (OSError, zlib.error) as error:
        raise ValueError(f"{path}: not a readable npz file ({error})") from None
    if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != 98:
        raise ValueError(
            f"{path}: {split} has dtype {packed.dtype} and shape {packed.shape}, "
            "expected uint8 (N, 98) packbits of 784 pixels"
        )
    bits = np.unpackbits(packed, axis=1)[:, :784].reshape(-1, 1, 28, 28)
    return torch.from_numpy(np.ascontiguousarray(bits))


def binarize(
    images: Tensor, *, seed: int, positions: Sequence[int] | Tensor | None = None
) -> Tensor:
    """Dynamic binarisation: one Bernoulli draw per pixel with probability grey / 255.

    Example k's noise comes from `numpy.random.default_rng((seed, positions[k], tag))`, so a
    draw depends only on `(seed, position)`: identical in every process and every run, and
    independent of the global RNG.

    Args:
        images: uint8 [N, ...] grey levels.
        seed: non-negative integer.
        positions: N distinct non-negative integers naming each example's draw (a data
            stream passes the global position); None: 0..N-1.

    Returns:
        uint8 tensor of `images`' shape with values 0/1.
    """
    if images.dtype != torch.uint8:
        raise ValueError(f"binarize expects uint8 grey levels, got {images.dtype}")
    if positions is None:
        positions = range(len(images))
    positions = [int(p) for p in positions]
    if len(positions) != len(images):
        raise ValueError(f"binarize: {len(positions)} positions for {len(images)} images")
    grey = images.cpu().numpy()
    shape = grey.shape[1:]
    noise = np.empty((len(positions), *shape))
    for row, position in enumerate(positions):
        noise[row] = np.random.default_rng((seed, position, _BINARIZE_TAG)).random(shape)
    bits = (noise * 255.0 < grey).astype(np.uint8)  # P(bit = 1) = grey / 255
    return torch.from_numpy(bits).to(images.device)
