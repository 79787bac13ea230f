"""CIFAR-10 from the python pickle batches of Krizhevsky (2009), read from a user's directory.

The "CIFAR-10 python version" holds `data_batch_1` .. `data_batch_5` (training, 10,000 images
each) and `test_batch`: each a Python 2 pickle (protocol 2) of a dict with keys `batch_label`,
`labels` (a list of ints 0-9), `data` (a uint8 numpy array (10000, 3072), each row the 1024 red,
then green, then blue values of a 32x32 image in row-major order) and `filenames`. Nothing is
downloaded: the user points genvid at the directory.

Unpickling admits only what pickled numpy arrays need, and runs none of it
(`genvid.numpy_pickle`), so a hostile or damaged file can neither run code nor crash; it raises
ValueError. The arrays must be integer arrays.

Deviations: none in the format; `write_cifar10_batch` writes the same opcodes Python 2's
cPickle did (byte strings as BINSTRING, `numpy.core.multiarray._reconstruct`), so its files
load exactly like the official ones: `encoding="bytes"` gives byte-string keys, "latin1" str
keys, and the default ASCII decoding fails on the pixel bytes.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genvid.atomic import atomic_write
from genvid.numpy_pickle import INTEGER_DTYPES, NumpyPickleError, load_numpy_pickle

OFFICIAL_TEST_BATCH_MD5 = "40351d587109b95175f43aff81a1287e"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)


def _describe(value: object) -> str:
    return f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = load_numpy_pickle(path.read_bytes(), dtypes=INTEGER_DTYPES, encoding="bytes")
    except NumpyPickleError as error:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: holds a {_describe(batch)}, expected a dict")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        keys = sorted(key for key in batch if isinstance(key, str))
        raise ValueError(f"{path}: no key {missing[0]!r} (keys: {keys})")
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{path}: data is {_describe(data)}, expected uint8 (N, 3072)")
    if data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: data rows have {data.shape[1]} values, expected 3072")
    return data.reshape(-1, 3, 32, 32), _labels(path, labels, len(data))


def _labels(path: Path, labels: object, count: int) -> np.ndarray:
    """`labels` as int64 (N,), checked in Python first: a pickle may hold any object there."""
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        values = labels.tolist()  # an integer array (`INTEGER_DTYPES`)
    elif isinstance(labels, (list, tuple)) and all(type(x) is int for x in labels):
        values = list(labels)
    else:
        raise ValueError(
            f"{path}: labels are a {_describe(labels)}, expected a list of {count} integers 0-9"
        )
    if len(values) != count:
        raise ValueError(f"{path}: {count} images but {len(values)} labels")
    if values and (min(values) < 0 or max(values) > 9):
        raise ValueError(f"{path}: labels outside 0-9 ({min(values)}..{max(values)})")
    return np.array(values, dtype=np.int64)


def cifar10_files(root: str | Path, split: Literal["train", "test"]) -> list[Path]:
    """The batch files of a split under `root`; FileNotFoundError lists what is missing."""
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if (root / "cifar-10-batches-py").is_dir():  # the directory the official tarball unpacks
        root = root / "cifar-10-batches-py"
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 {split}: no {', '.join(missing)} in {root.resolve()}")
    return [root / name for name in names]


def load_cifar10(
    root: str | Path, split: Literal["train", "test"] = "train"
) -> tuple[Tensor, Tensor]:
    """CIFAR-10 images and labels from the python batches in `root`.

    Args:
        root: directory holding `data_batch_1..5` and `test_batch` (or their parent
            `cifar-10-batches-py`).
        split: "train" (50,000 images) or "test" (10,000).

    Returns:
        images: uint8 [N, 3, 32, 32] (RGB); labels: int64 [N].
    """
    parts = [_load_batch(path) for path in cifar10_files(root, split)]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def is_official_test_batch(path: str | Path) -> bool:
    """True if `path` is byte-for-byte the official `test_batch` (md5 40351d58...1287e)."""
    path = Path(path)
    if path.is_dir():
        path = cifar10_files(path, "test")[0]
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == OFFICIAL_TEST_BATCH_MD5


def write_cifar10_batch(
    path: str | Path,
    images: Tensor | np.ndarray,
    labels: Tensor | np.ndarray | Sequence[int],
    *,
    batch_label: str = "testing batch 1 of 1",
    filenames: Sequence[str] | None = None,
) -> Path:
    """Write a batch in the official format (Python 2 cPickle protocol 2), atomically.

    Args:
        path: output file (e.g. `root/test_batch`).
        images: uint8 [N, 3, 32, 32].
        labels: N integers 0-9.
        batch_label: the `batch_label` entry ("training batch k of 5" for training files).
        filenames: N names; None: "image_{i}.png".
    """
    array = images.cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (3, 32, 32):
        raise ValueError(f"images must be uint8 [N, 3, 32, 32], got {array.dtype} {array.shape}")
    label_list = [int(x) for x in (labels.tolist() if isinstance(labels, Tensor) else labels)]
    if len(label_list) != len(array) or any(not 0 <= x <= 9 for x in label_list):
        raise ValueError(f"labels must be {len(array)} integers in 0-9")
    names = (
        list(filenames) if filenames is not None else [f"image_{i}.png" for i in range(len(array))]
    )
    if len(names) != len(array):
        raise ValueError(f"{len(names)} filenames for {len(array)} images")
    payload = _py2_pickle(
        batch_label.encode(), label_list, array.reshape(len(array), -1), [n.encode() for n in names]
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: file.write(payload))
    return path


def _py2_pickle(
    batch_label: bytes, labels: list[int], data: np.ndarray, names: list[bytes]
) -> bytes:
    """The protocol-2 opcodes Python 2's cPickle wrote for a CIFAR batch dict."""
    out = io.BytesIO()

    def string(value: bytes) -> None:  # a Python 2 str
        if len(value) < 256:
            out.write(pickle.SHORT_BINSTRING + bytes([len(value)]) + value)
        else:
            out.write(pickle.BINSTRING + struct.pack("<i", len(value)) + value)

    def integer(value: int) -> None:
        if 0 <= value < 256:
            out.write(pickle.BININT1 + bytes([value]))
        else:
            out.write(pickle.BININT + struct.pack("<i", value))

    def sequence(values: list, write) -> None:  # noqa: ANN001
        out.write(pickle.EMPTY_LIST + pickle.MARK)
        for value in values:
            write(value)
        out.write(pickle.APPENDS)

    out.write(pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK)
    string(b"batch_label")
    string(batch_label)
    string(b"labels")
    sequence(labels, integer)
    string(b"data")
    # numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b'), then __setstate__ with
    # (version 1, shape, dtype('u1') with its own state, fortran order False, raw bytes).
    out.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
    out.write(pickle.GLOBAL + b"numpy\nndarray\n")
    integer(0)
    out.write(pickle.TUPLE1)
    string(b"b")
    out.write(pickle.TUPLE3 + pickle.REDUCE + pickle.MARK)
    integer(1)
    integer(data.shape[0])
    integer(data.shape[1])
    out.write(pickle.TUPLE2)
    out.write(pickle.GLOBAL + b"numpy\ndtype\n")
    string(b"u1")
    out.write(pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3 + pickle.REDUCE + pickle.MARK)
    integer(3)
    string(b"|")
    out.write(pickle.NONE + pickle.NONE + pickle.NONE)
    out.write(pickle.BININT + struct.pack("<i", -1) + pickle.BININT + struct.pack("<i", -1))
    integer(0)
    out.write(pickle.TUPLE + pickle.BUILD + pickle.NEWFALSE)
    string(np.ascontiguousarray(data).tobytes())
    out.write(pickle.TUPLE + pickle.BUILD)
    string(b"filenames")
    sequence(names, string)
    out.write(pickle.SETITEMS + pickle.STOP)
    return out.getvalue()
