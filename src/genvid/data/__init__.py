"""Data sets: uint8 tensors out (images [N, C, H, W], videos [N, T, C, H, W]), nothing else.

Readers for MNIST (IDX), the fixed binarized MNIST, CIFAR-10 (python batches), downsampled
ImageNet (PNG folders or npz batches), Moving MNIST (generated on the fly, deterministic or
stochastic bounces, SRVP's variant and its fixed test set, and the standard .npy layout), a
user's own videos and Ms. Pac-Man clips rendered locally from ale-py's ROM (genvid's own data,
made on first use); training streams
that are pure functions of (seed, step, rank); and a registry of named data sets for the
command line. Of genvid it imports only the leaf module `genvid.atomic` (atomic file writes).
"""

from genvid.data.cifar import (
    OFFICIAL_TEST_BATCH_MD5,
    is_official_test_batch,
    load_cifar10,
    write_cifar10_batch,
)
from genvid.data.imagenet import load_downsampled_imagenet
from genvid.data.mnist import binarize, load_binarized_mnist, load_mnist, read_idx
from genvid.data.moving_mnist import (
    TEST_SET_SEED,
    MovingMNIST,
    Trajectory,
    check_frames,
    entropy_lower_bound,
    entropy_per_sequence,
    from_file_layout,
    read_moving_mnist,
    regenerate_test_set,
    to_file_layout,
    write_moving_mnist,
)
from genvid.data.pacman import generate_pacman_clips, read_pacman_split, write_pacman_set
from genvid.data.regenerated import write_regenerated_test_set, write_srvp_test_set
from genvid.data.registry import (
    VALID_SET_SEED,
    DataSetInfo,
    default_split,
    describe,
    eval_set,
    eval_set_label,
    eval_set_seed,
    frame_size,
    names,
    splits,
    train_stream,
)
from genvid.data.srvp_mnist import SRVPMovingMNIST, SRVPTestSet, read_srvp_npz
from genvid.data.streams import (
    GeneratedStream,
    MovingMNISTStream,
    Stream,
    TensorStream,
    global_positions,
)
from genvid.data.video_folder import VideoFolder

__all__ = [
    "OFFICIAL_TEST_BATCH_MD5",
    "TEST_SET_SEED",
    "VALID_SET_SEED",
    "DataSetInfo",
    "GeneratedStream",
    "MovingMNIST",
    "MovingMNISTStream",
    "SRVPMovingMNIST",
    "SRVPTestSet",
    "Stream",
    "TensorStream",
    "Trajectory",
    "VideoFolder",
    "binarize",
    "check_frames",
    "describe",
    "entropy_lower_bound",
    "entropy_per_sequence",
    "default_split",
    "eval_set",
    "eval_set_label",
    "eval_set_seed",
    "frame_size",
    "from_file_layout",
    "generate_pacman_clips",
    "global_positions",
    "is_official_test_batch",
    "load_binarized_mnist",
    "load_cifar10",
    "load_downsampled_imagenet",
    "load_mnist",
    "names",
    "splits",
    "read_idx",
    "read_moving_mnist",
    "read_pacman_split",
    "read_srvp_npz",
    "regenerate_test_set",
    "to_file_layout",
    "train_stream",
    "write_cifar10_batch",
    "write_moving_mnist",
    "write_pacman_set",
    "write_regenerated_test_set",
    "write_srvp_test_set",
]
