"""Downsampled ImageNet (32x32 or 64x64 RGB) from a user's directory, in either release's layout.

- PNG folders, van den Oord, Kalchbrenner, Kavukcuoglu 2016, "Pixel Recurrent Neural Networks"
  (arXiv:1601.06759), section 5: `train_64x64/` and `valid_64x64/` (or `train_32x32/`,
  `valid_32x32/`), one PNG per image. Images are read in file-name order.
- npz batches, Chrabaszcz, Loshchilov, Hutter 2017, "A Downsampled Variant of ImageNet as an
  Alternative to the CIFAR datasets" (arXiv:1707.08819): `train_data_batch_1.npz` ..
  `train_data_batch_10.npz` and `val_data.npz`, each with `data`, uint8 (N, 3 * S * S) whose
  rows are the red, then green, then blue S x S planes in row-major order (as in CIFAR-10),
  and `labels`.

Both layouts sit directly in `root`; if both are there, the PNG folders (the data of the
PixelRNN paper) are read. The two releases were made separately, so report which one a
result is on. Nothing is downloaded.

Deviations: labels are not read (the models are unconditional). A split is held in memory
as one uint8 array (64x64 train: 1.28M images, 15.7 GB). The npz batches are sized from their
headers first and that array allocated once, so the peak is the split plus one batch.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

NPZ_TRAIN_FILES = tuple(f"train_data_batch_{i}.npz" for i in range(1, 11))
NPZ_VALID_FILES = ("val_data.npz",)
_NPZ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error)


def downsampled_imagenet_source(
    root: str | Path, split: Literal["train", "valid"], size: int
) -> Path | list[Path]:
    """Where `split` lives under `root`: its PNG folder, or its npz batch files."""
    if split not in ("train", "valid"):
        raise ValueError(f"downsampled ImageNet split must be 'train' or 'valid', got {split!r}")
    root = Path(root)
    folder = root / f"{split}_{size}x{size}"
    if folder.is_dir():
        return folder
    names = NPZ_TRAIN_FILES if split == "train" else NPZ_VALID_FILES
    missing = [name for name in names if not (root / name).is_file()]
    if len(missing) == len(names):
        npz = f"{names[0]} .. {names[-1]}" if split == "train" else names[0]
        raise FileNotFoundError(
            f"ImageNet {size}x{size} {split}: no folder {folder.name}/ and no {npz} "
            f"in {root.resolve()}"
        )
    if missing:
        raise FileNotFoundError(
            f"ImageNet {size}x{size} {split}: no {', '.join(missing)} in {root.resolve()}"
        )
    return [root / name for name in names]


def _read_pngs(folder: Path, size: int) -> np.ndarray:
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise FileNotFoundError(f"no .png files in {folder}")
    images = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                if image.size != (size, size):
                    raise ValueError(
                        f"{path}: image is {image.width}x{image.height}, not {size}x{size}"
                    )
                rgb = np.asarray(image.convert("RGB"))  # (H, W, 3)
            images[i] = rgb.transpose(2, 0, 1)  # (3, H, W)
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"{path}: not a readable image ({error})") from None
    return images


def _npz_rows(path: Path, size: int) -> int:
    """How many images an npz batch holds, from the header of its `data` alone."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("data.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
    except KeyError:  # the archive has no data.npy
        raise ValueError(f"{path}: no key 'data'") from None
    except _NPZ_ERRORS as error:
        raise ValueError(f"{path}: not an npz batch ({error})") from None
    width = 3 * size * size
    if dtype != np.uint8 or len(shape) != 2 or shape[1] != width:
        raise ValueError(
            f"{path}: data is {dtype} {shape}, expected uint8 (N, {width}) for {size}x{size}"
        )
    return shape[0]


def _read_npz(paths: list[Path], size: int) -> np.ndarray:
    rows = [_npz_rows(path, size) for path in paths]
    images = np.empty((sum(rows), 3, size, size), dtype=np.uint8)
    start = 0
    for path, count in zip(paths, rows, strict=True):
        try:
            with np.load(path) as batch:
                data = batch["data"]
        except _NPZ_ERRORS as error:
            raise ValueError(f"{path}: not an npz batch ({error})") from None
        images[start : start + count] = data.reshape(count, 3, size, size)  # R, G, B planes
        start += count
    return images


def load_downsampled_imagenet(
    root: str | Path, split: Literal["train", "valid"], size: int
) -> Tensor:
    """Downsampled ImageNet images from the PNG folders or npz batches in `root`.

    Args:
        root: directory holding `{split}_{size}x{size}/` PNG folders or the npz batches.
        split: "train" (1,281,167 images) or "valid" (50,000).
        size: image side, 32 or 64 (the releases' sizes; any side is read if the files have it).

    Returns:
        uint8 [N, 3, size, size] (RGB).
    """
    source = downsampled_imagenet_source(root, split, size)
    if isinstance(source, Path):
        return torch.from_numpy(_read_pngs(source, size))
    return torch.from_numpy(_read_npz(source, size))
