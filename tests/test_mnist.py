"""MNIST IDX reader, fixed binarized MNIST and dynamic binarisation."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
import torch

from genvid.data import binarize, load_binarized_mnist, load_mnist, read_idx
from genvid.data.mnist import MNIST_DIR

# md5 of the original gzip files (shared/data/mnist/README.md): the shipped copy is the real one.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "c7dfcf1bfd3481a40f7b3aedbdbd083c",
    "train-labels-idx1-ubyte.gz": "d289298a347a2cc65765a3c81043ba88",
    "t10k-images-idx3-ubyte.gz": "ecff87aa27c74fbc2c1f97e89c19221d",
    "t10k-labels-idx1-ubyte.gz": "a38049bc042dc6e683842a84160daae1",
}


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


def _idx(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)
    return header + payload


def test_shipped_files_are_the_original_mnist():
    for name, md5 in MNIST_MD5.items():
        assert hashlib.md5((MNIST_DIR / name).read_bytes()).hexdigest() == md5, name


def test_read_idx_on_real_files():
    train = read_idx(MNIST_DIR / "train-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz")
    test = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    test_labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert train.shape == (60000, 28, 28) and train.dtype == np.uint8
    assert labels.shape == (60000,) and test.shape == (10000, 28, 28)
    assert test_labels.shape == (10000,)
    assert set(np.unique(labels)) == set(range(10)) == set(np.unique(test_labels))
    # The well-known normalisation constants of MNIST-train.
    assert abs(train.mean() / 255 - 0.1307) < 5e-4
    assert abs((train / 255).std() - 0.3081) < 5e-4
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]  # the first training digits
    assert train[0].max() == 255 and train[0, 0].max() == 0  # a corner is background


def test_raw_and_gzip_files_read_the_same(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = tmp_path / name
        raw.write_bytes(gzip.decompress((MNIST_DIR / f"{name}.gz").read_bytes()))
        np.testing.assert_array_equal(read_idx(raw), read_idx(MNIST_DIR / f"{name}.gz"))
    images, labels = load_mnist("test", root=tmp_path)  # a root of raw files
    shipped_images, shipped_labels = load_mnist("test")
    assert torch.equal(images, shipped_images) and torch.equal(labels, shipped_labels)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_rejects_bad_files(tmp_path, compress):
    def write(name: str, content: bytes):
        path = tmp_path / name
        path.write_bytes(gzip.compress(content) if compress else content)
        return path

    good = _idx(0x803, (2, 3, 4), bytes(24))
    assert read_idx(write("good", good)).shape == (2, 3, 4)
    cases = {
        "truncated": (good[:-1], "truncated"),
        "extra": (good + b"\x00", "extra bytes"),
        "magic": (_idx(0x802, (2, 3, 4), bytes(24)), "magic number 0x00000802"),
        "float": (_idx(0xD03, (2, 3, 4), bytes(96)), "magic number 0x00000D03"),
        "header": (good[:9], "truncated header"),
        "labels": (_idx(0x801, (5,), bytes(4)), r"shape \(5,\)"),
    }
    for name, (content, pattern) in cases.items():
        with pytest.raises(ValueError, match=pattern) as error:
            read_idx(write(name, content))
        assert name in _one_line(error)  # names the file


def test_read_idx_missing_and_corrupt_gzip(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.gz") as error:
        read_idx(tmp_path / "nowhere.gz")
    _one_line(error)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(_idx(0x801, (100,), bytes(100)))[:20])
    with pytest.raises(ValueError, match="gzip") as error:
        read_idx(broken)
    _one_line(error)


def test_load_mnist_shapes_and_errors(tmp_path):
    images, labels = load_mnist("train")
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert 0 <= labels.min() and labels.max() <= 9
    with pytest.raises(FileNotFoundError, match=str(tmp_path)) as error:
        load_mnist("test", root=tmp_path)
    _one_line(error)
    with pytest.raises(ValueError, match="'valid'"):
        load_mnist("valid")


def test_binarized_mnist_splits_match_grey_mnist():
    splits = {split: load_binarized_mnist(split) for split in ("train", "valid", "test")}
    assert {k: v.shape[0] for k, v in splits.items()} == {
        "train": 50000,
        "valid": 10000,
        "test": 10000,
    }
    for images in splits.values():
        assert images.shape[1:] == (1, 28, 28) and images.dtype == torch.uint8
        assert set(images.unique().tolist()) == {0, 1}
    grey, labels = load_mnist("test")
    # Mean of a Bernoulli(grey / 255) binarisation: 7.84M pixels put the standard error near 1e-4.
    assert abs(splits["test"].float().mean() - grey.float().mean() / 255) < 1e-3
    # The test split is MNIST-test sorted by label (stable), binarised once: black stays 0,
    # white stays 1, and each image is far closer to its own grey image than to another's.
    grey = grey[torch.argsort(labels, stable=True)]
    assert splits["test"][grey == 0].max() == 0 and splits["test"][grey == 255].min() == 1
    own = (splits["test"].float() - grey / 255).abs().mean()
    shifted = (splits["test"].float() - grey.roll(1, 0) / 255).abs().mean()
    assert own < 0.5 * shifted


def test_load_binarized_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_binarized_mnist("test", tmp_path / "missing.npz")
    path = tmp_path / "bad.npz"
    np.savez(path, test=np.zeros((3, 97), np.uint8))
    with pytest.raises(ValueError, match=r"\(3, 97\)") as error:
        load_binarized_mnist("test", path)
    _one_line(error)
    with pytest.raises(ValueError, match="no key 'valid'"):
        load_binarized_mnist("valid", path)


def test_binarize_is_a_pure_function_of_seed_and_position():
    grey = load_mnist("test")[0][:64]
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    bits = binarize(grey, seed=3)
    assert torch.equal(torch.get_rng_state(), torch_state)  # the global RNGs are untouched
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert bits.dtype == torch.uint8 and set(bits.unique().tolist()) == {0, 1}
    assert torch.equal(bits, binarize(grey, seed=3))
    assert torch.equal(bits[5:9], binarize(grey[5:9], seed=3, positions=range(5, 9)))
    assert not torch.equal(bits, binarize(grey, seed=4))
    assert (bits[grey == 0] == 0).all() and (bits[grey == 255] == 1).all()
    assert abs(bits.float().mean() - grey.float().mean() / 255) < 0.01
    with pytest.raises(ValueError, match="uint8"):
        binarize(grey.float(), seed=0)
