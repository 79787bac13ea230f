"""Named data sets: what `genvid train --data NAME` streams and `genvid eval` scores on.

- binarized-mnist: fixed binarized train (50,000); eval train/valid/test (fixed);
  root: the npz or its folder (default: shipped).
- binarized-mnist-dynamic: MNIST-train 0..49,999 binarised afresh at every draw; eval
  train/valid/test of the FIXED set (valid = MNIST-train 50,000..59,999); root: MNIST IDX.
- mnist: grey MNIST-train (60,000); eval train/test (grey); root: MNIST IDX.
- cifar10: data_batch_1..5; eval train/test; root required.
- imagenet32, imagenet64: downsampled ImageNet train (1.28M), PNG folders or npz batches;
  eval train/valid; root required.
- moving-mnist: on the fly from MNIST-train digits, 20 frames; eval test = the set
  regenerated from MNIST-test, 20 frames; eval valid = 10,000 sequences of MNIST-train digits
  50,000..59,999 (seed 150204682), which a `holdout` stream (a sweep's) never shows; root:
  MNIST IDX.
- moving-mnist-stochastic: SVG's bounces on the fly, 15 frames (5 context + 10 predicted);
  eval test regenerated, 25 frames (5 + 20); valid as moving-mnist's; root: MNIST IDX.
- moving-mnist-srvp: Stochastic Moving MNIST as SRVP makes it (`genvid.data.srvp_mnist`: 28x28
  digits, exact reflections), on the fly from MNIST-train digits, 15 frames; eval test = SRVP's
  fixed test set (5,000 sequences of 25 frames, byte-identical to its make_test_set.py's),
  made from the shipped MNIST-test digits, or read from SRVP's own npz when root holds it;
  eval valid = sequences of MNIST-train digits 50,000..59,999 (seed 150204682), which a
  `holdout` stream never shows; root: MNIST IDX, or the directory/file of SRVP's npz (test).
- video-folder: clips of ROOT/train (or of ROOT if it has no train folder); eval
  ROOT/<split>; 64x64 RGB clips of 20 frames; root required.
- pacman: Ms. Pac-Man clips that genvid renders from ale-py's ROM (its own data, not the seed
  project's; `genvid.data.pacman`), 20 frames of 64x64 RGB; train 2,000 / test 4,096 clips;
  root: the directory of the generated files (default `~/.cache/genvid/pacman`, or under
  `$XDG_CACHE_HOME`), made there on first use (about 3 minutes on a CPU) and reused after
  (a set of an older version is made again).

A path to a `.npy` file in the standard Moving MNIST layout (T, N, 64, 64) also works as a
name: its sequences are the training stream and the evaluation set (whatever the split).

The "moving-mnist" evaluation set is "Moving MNIST (regenerated, seed 150204681)", never the
standard `mnist_test_seq.npy` (pass that file's path to evaluate on it). Results on the
dynamically binarised MNIST are scored on the fixed binarized valid/test sets, the ones
comparable with the papers. Every MNIST-based set reads the shipped MNIST copy unless `root`
names a directory of IDX files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from genvid.data.cifar import cifar10_files, load_cifar10
from genvid.data.imagenet import downsampled_imagenet_source, load_downsampled_imagenet
from genvid.data.mnist import (
    BINARIZED_MNIST_PATH,
    MNIST_DIR,
    find_idx_file,
    load_binarized_mnist,
    load_mnist,
)
from genvid.data.moving_mnist import (
    CANVAS,
    TEST_SET_SEED,
    MovingMNIST,
    from_file_layout,
    read_moving_mnist,
    regenerate_test_set,
)
from genvid.data.pacman import SIZE as PACMAN_SIZE
from genvid.data.pacman import default_root, ensure_pacman_set, is_written, read_pacman_split
from genvid.data.srvp_mnist import NPZ_NAMES as SRVP_NPZ_NAMES
from genvid.data.srvp_mnist import TEST_FRAMES as _SRVP_TEST_FRAMES
from genvid.data.srvp_mnist import TEST_SEED as SRVP_TEST_SEED
from genvid.data.srvp_mnist import TRAIN_FRAMES as SRVP_TRAIN_FRAMES
from genvid.data.srvp_mnist import SRVPMovingMNIST, SRVPTestSet, read_srvp_npz
from genvid.data.streams import GeneratedStream, MovingMNISTStream, Stream, TensorStream
from genvid.data.video_folder import VideoFolder

_DESCRIPTIONS = {
    "binarized-mnist": "fixed binarized MNIST (Larochelle), 50k/10k/10k, 1x28x28 0/1",
    "binarized-mnist-dynamic": "MNIST-train 50k binarised afresh each draw; eval on fixed set",
    "mnist": "grey MNIST, 60k/10k, 1x28x28",
    "cifar10": "CIFAR-10 python batches, 50k/10k, 3x32x32 (needs --root)",
    "imagenet32": "downsampled ImageNet 32x32, your PNG folders or npz batches (needs --root)",
    "imagenet64": "downsampled ImageNet 64x64, your PNG folders or npz batches (needs --root)",
    "moving-mnist": f"Moving MNIST, 20x1x64x64; test regenerated (seed {TEST_SET_SEED})",
    "moving-mnist-stochastic": "Stochastic Moving MNIST (SVG), 15 train / 25 test frames",
    "moving-mnist-srvp": (
        "Stochastic Moving MNIST (SRVP's, the later papers' figures), 15 train / 25 test frames; "
        "test = SRVP's fixed 5,000 sequences"
    ),
    "video-folder": "your videos / frame folders as 20x3x64x64 clips (needs --root)",
    "pacman": (
        "Ms. Pac-Man clips rendered locally from ale-py's ROM (genvid's own data), 20x3x64x64"
    ),
}
_SPLITS = {
    "binarized-mnist": ("train", "valid", "test"),
    "binarized-mnist-dynamic": ("train", "valid", "test"),
    "mnist": ("train", "test"),
    "cifar10": ("train", "test"),
    "imagenet32": ("train", "valid"),
    "imagenet64": ("train", "valid"),
    "moving-mnist": ("test", "valid"),
    "moving-mnist-stochastic": ("test", "valid"),
    "moving-mnist-srvp": ("test", "valid"),
    "video-folder": ("train", "valid", "test"),
    "pacman": ("train", "test"),
}
DYNAMIC_TRAIN_SIZE = 50_000  # MNIST-train 0..49,999 train; 50,000..59,999 is the valid split
# Moving MNIST's validation set: 10,000 sequences of MNIST-train digits 50,000..59,999 (which a
# `holdout` training stream never shows), seeded apart from the test set.
VALID_SET_SEED = 150204682
SRVP_TEST_FRAMES = _SRVP_TEST_FRAMES[False]  # the stochastic test set: 5 given + 20 predicted
IMAGENET_SIZES = {"imagenet32": 32, "imagenet64": 64}  # image side of each ImageNet name
VIDEO_SIZE = (64, 64)  # frame size of "video-folder" clips
VIDEO_CLIP_LENGTH = 20  # frames per "video-folder" clip
# Height and width of every image or frame of each set (each reader checks or resizes to it), so
# a run knows its size without reading the data; a `.npy` file holds Moving MNIST's canvas.
_FRAME_SIZES = {
    "binarized-mnist": (28, 28),
    "binarized-mnist-dynamic": (28, 28),
    "mnist": (28, 28),
    "cifar10": (32, 32),
    **{name: (side, side) for name, side in IMAGENET_SIZES.items()},
    "moving-mnist": (CANVAS, CANVAS),
    "moving-mnist-stochastic": (CANVAS, CANVAS),
    "moving-mnist-srvp": (CANVAS, CANVAS),
    "video-folder": VIDEO_SIZE,
    "pacman": PACMAN_SIZE,
}


@dataclass(frozen=True)
class DataSetInfo:
    """One named data set as `genvid info` lists it."""

    name: str
    description: str
    splits: tuple[str, ...]
    found: bool  # its files are where genvid looks
    location: str  # where it looked


def names() -> tuple[str, ...]:
    """Every data set name."""
    return tuple(_DESCRIPTIONS)


def splits(name: str) -> tuple[str, ...]:
    """The evaluation splits of data set `name` (a `.npy` file has one: "test")."""
    if _is_npy(name):
        return ("test",)
    _check(name)
    return _SPLITS[name]


def default_split(name: str) -> str:
    """The split scored when none is named: "test", or "valid" for sets without a test split."""
    if _is_npy(name):
        return "test"
    _check(name)
    return "test" if "test" in _SPLITS[name] else _SPLITS[name][-1]


def frame_size(name: str) -> tuple[int, int]:
    """Height and width of the images or frames of data set `name`, known without reading it."""
    if _is_npy(name):
        return (CANVAS, CANVAS)
    _check(name)
    return _FRAME_SIZES[name]


def eval_set_seed(name: str, split: str) -> int | None:
    """The seed of a generated Moving MNIST evaluation set (None for sets read from files)."""
    if name not in ("moving-mnist", "moving-mnist-stochastic", "moving-mnist-srvp"):
        return None
    if split == "valid":
        return VALID_SET_SEED
    return SRVP_TEST_SEED if name == "moving-mnist-srvp" else TEST_SET_SEED


def eval_set_label(name: str, split: str) -> str:
    """What an evaluation report names its data: the set, and for a regenerated Moving MNIST
    set the digits and the seed it is made from."""
    if name in ("moving-mnist", "moving-mnist-stochastic"):
        digits = "MNIST-train digits 50,000-59,999" if split == "valid" else "MNIST-test"
        return f"{name} (regenerated from {digits}, seed {eval_set_seed(name, split)})"
    return name


def _check(name: str, split: str | None = None) -> None:
    if name not in _DESCRIPTIONS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(names())}")
    if split is not None and split not in _SPLITS[name]:
        raise ValueError(f"{name} has no split {split!r}; splits: {', '.join(_SPLITS[name])}")


def _is_npy(name: str) -> bool:
    return name.endswith(".npy")


def _binarized_path(root: str | Path | None, *, required: bool) -> Path:
    if root is None:
        return BINARIZED_MNIST_PATH
    root = Path(root)
    path = root / BINARIZED_MNIST_PATH.name if root.is_dir() else root
    if path.is_file() or required:
        return path
    return BINARIZED_MNIST_PATH  # root holds MNIST IDX files only: the shipped fixed set


def _frames(name: str, num_frames: int | None, default: int) -> int:
    if num_frames is None:
        return default
    if not name.startswith("moving-mnist") and not _is_npy(name):
        raise ValueError(f"num_frames applies to Moving MNIST only, not {name}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return num_frames


def train_stream(
    name: str,
    *,
    seed: int,
    root: str | Path | None = None,
    num_frames: int | None = None,
    holdout: bool = False,
) -> Stream:
    """The training stream of data set `name` (see the module table).

    Args:
        name: a data set name (`names()`), or the path of a Moving MNIST `.npy` file.
        seed: the stream's seed (permutations, binarisation noise, Moving MNIST sequences).
        root: where the user's data live (required for cifar10, imagenet* and video-folder;
            for pacman, where its generated files are or will be made).
        num_frames: Moving MNIST frames per sequence, if not the name's default.
        holdout: leave out what the "valid" split is made of (Moving MNIST: MNIST-train digits
            50,000..59,999); the sets whose train split is already apart from their valid
            split ignore it. What a sweep trains on.
    """
    if _is_npy(name):
        videos = from_file_layout(read_moving_mnist(name))
        return TensorStream(videos[:, : _frames(name, num_frames, videos.shape[1])], seed=seed)
    _check(name)
    _frames(name, num_frames, 0)  # rejects num_frames for sets that are not Moving MNIST
    if name == "binarized-mnist":
        return TensorStream(
            load_binarized_mnist("train", _binarized_path(root, required=True)), seed=seed
        )
    if name == "binarized-mnist-dynamic":
        images, _ = load_mnist("train", root)
        return TensorStream(images[:DYNAMIC_TRAIN_SIZE], seed=seed, binarize=True)
    if name == "mnist":
        return TensorStream(load_mnist("train", root)[0], seed=seed)
    if name == "cifar10":
        return TensorStream(load_cifar10(_required(name, root), "train")[0], seed=seed)
    if name in IMAGENET_SIZES:
        images = load_downsampled_imagenet(_required(name, root), "train", IMAGENET_SIZES[name])
        return TensorStream(images, seed=seed)
    if name == "moving-mnist-srvp":
        digits, _ = load_mnist("train", _mnist_root(root))
        digits = digits[:DYNAMIC_TRAIN_SIZE] if holdout else digits
        frames = _frames(name, num_frames, SRVP_TRAIN_FRAMES)
        return GeneratedStream(SRVPMovingMNIST(digits.numpy(), seed=seed, num_frames=frames))
    if name.startswith("moving-mnist"):
        stochastic = name == "moving-mnist-stochastic"
        frames = _frames(name, num_frames, 15 if stochastic else 20)
        digits, _ = load_mnist("train", root)
        if holdout:
            digits = digits[:DYNAMIC_TRAIN_SIZE]
        return MovingMNISTStream(digits, seed=seed, num_frames=frames, stochastic=stochastic)
    if name == "pacman":
        return TensorStream(read_pacman_split(ensure_pacman_set(root), "train"), seed=seed)
    folder = _required(name, root)
    folder = folder / "train" if (folder / "train").is_dir() else folder
    return TensorStream(_video_folder(folder).clips(), seed=seed)


def eval_set(
    name: str,
    split: str = "test",
    *,
    root: str | Path | None = None,
    limit: int | None = None,
    num_frames: int | None = None,
) -> Tensor:
    """A fixed evaluation set of data set `name`: uint8 [N, C, H, W] or [N, T, C, H, W].

    Args:
        name: a data set name (`names()`), or the path of a Moving MNIST `.npy` file.
        split: one of the name's splits (module table).
        root: where the user's data live (required for cifar10, imagenet* and video-folder;
            for pacman, where its generated files are or will be made).
        limit: keep the first `limit` examples (Moving MNIST makes only those).
        num_frames: Moving MNIST frames per sequence, if not the name's default.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    end = limit  # slicing with None keeps everything
    if _is_npy(name):
        videos = from_file_layout(read_moving_mnist(name, mmap=True)[:, :end])
        return videos[:, : _frames(name, num_frames, videos.shape[1])]
    _check(name, split)
    if name == "moving-mnist-srvp":
        return _srvp_eval_set(split, root, limit, _frames(name, num_frames, SRVP_TEST_FRAMES))
    if name.startswith("moving-mnist"):
        stochastic = name == "moving-mnist-stochastic"
        frames = _frames(name, num_frames, 25 if stochastic else 20)
        count = limit if limit is not None else 10_000
        if split == "valid":
            digits = load_mnist("train", root)[0][DYNAMIC_TRAIN_SIZE:]
            generator = MovingMNIST(
                digits, seed=VALID_SET_SEED, num_frames=frames, stochastic=stochastic
            )
            return generator.sequences(np.arange(count))
        return regenerate_test_set(count, stochastic=stochastic, num_frames=frames, root=root)
    _frames(name, num_frames, 0)  # rejects num_frames for sets that are not Moving MNIST
    if name == "binarized-mnist":
        return load_binarized_mnist(split, _binarized_path(root, required=True))[:end]
    if name == "binarized-mnist-dynamic":
        return load_binarized_mnist(split, _binarized_path(root, required=False))[:end]
    if name == "mnist":
        return load_mnist(split, root)[0][:end]
    if name == "cifar10":
        return load_cifar10(_required(name, root), split)[0][:end]
    if name in IMAGENET_SIZES:
        return load_downsampled_imagenet(_required(name, root), split, IMAGENET_SIZES[name])[:end]
    if name == "pacman":
        return read_pacman_split(ensure_pacman_set(root), split)[:end]
    folder = _required(name, root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"video-folder {split} split: put its videos in {folder}")
    return _video_folder(folder).clips()[:end]


def _srvp_eval_set(split: str, root: str | Path | None, limit: int | None, frames: int) -> Tensor:
    """SRVP's test set (regenerated, or its own npz under `root`) or the validation set."""
    if split == "valid":
        digits = load_mnist("train", _mnist_root(root))[0][DYNAMIC_TRAIN_SIZE:]
        generator = SRVPMovingMNIST(digits.numpy(), seed=VALID_SET_SEED, num_frames=frames)
        return generator.sequences(np.arange(limit if limit is not None else 10_000))
    if root is not None and _holds_srvp_npz(Path(root)):
        videos = read_srvp_npz(root)[:limit]
        if videos.shape[1] < frames:
            raise ValueError(f"{root}: SRVP's file holds {videos.shape[1]} frames, not {frames}")
        return videos[:, :frames]
    test_set = SRVPTestSet(num_frames=frames, root=root)
    return test_set.sequences(np.arange(min(limit or len(test_set), len(test_set))))


def _holds_srvp_npz(root: Path) -> bool:
    return root.suffix == ".npz" or (root / SRVP_NPZ_NAMES[False]).is_file()


def _mnist_root(root: str | Path | None) -> str | Path | None:
    """MNIST's IDX directory for the SRVP set: `root`, unless it names SRVP's npz (then the
    shipped MNIST)."""
    return None if root is not None and _holds_srvp_npz(Path(root)) else root


def _required(name: str, root: str | Path | None) -> Path:
    if root is None:
        raise ValueError(f"{name} needs the directory of your data (root / --root)")
    return Path(root)


def _video_folder(folder: Path) -> VideoFolder:
    return VideoFolder(folder, size=VIDEO_SIZE, clip_length=VIDEO_CLIP_LENGTH)


def describe(root: str | Path | None = None) -> list[DataSetInfo]:
    """Every data set with whether its files are found (for `genvid info`)."""
    mnist_dir = Path(root) if root is not None else MNIST_DIR
    try:
        find_idx_file(mnist_dir, "train-images-idx3-ubyte")
        find_idx_file(mnist_dir, "t10k-images-idx3-ubyte")
        mnist_found = True
    except FileNotFoundError:
        mnist_found = False
    infos = []
    for name in names():
        if name == "binarized-mnist":
            path = _binarized_path(root, required=True)
            found, location = path.is_file(), str(path)
        elif name in ("cifar10", "video-folder", *IMAGENET_SIZES):
            found, location = _user_data_found(name, root)
        elif name == "pacman":  # not found yet: made on first use
            folder = Path(root) if root is not None else default_root()
            found, location = is_written(folder), str(folder)
        else:
            found, location = mnist_found, str(mnist_dir)
        infos.append(DataSetInfo(name, _DESCRIPTIONS[name], _SPLITS[name], found, location))
    return infos


def _user_data_found(name: str, root: str | Path | None) -> tuple[bool, str]:
    if root is None:
        return False, "needs --root DIR"
    if name == "video-folder":
        return Path(root).is_dir(), str(root)
    try:  # every split's files are there (found without reading them)
        for split in _SPLITS[name]:
            if name == "cifar10":
                cifar10_files(root, split)
            else:
                downsampled_imagenet_source(root, split, IMAGENET_SIZES[name])
    except FileNotFoundError:
        return False, str(root)
    return True, str(root)
