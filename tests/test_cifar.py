"""CIFAR-10 python batches, on files written in the official format by the test."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from genvid.data import is_official_test_batch, load_cifar10, write_cifar10_batch


def _fake_cifar(root, per_batch: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Write data_batch_1..5 and test_batch; return all images and labels (train then test)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6 * per_batch, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, 6 * per_batch)
    for k in range(6):
        name = f"data_batch_{k + 1}" if k < 5 else "test_batch"
        part = slice(k * per_batch, (k + 1) * per_batch)
        label = f"training batch {k + 1} of 5" if k < 5 else "testing batch 1 of 1"
        write_cifar10_batch(root / name, images[part], labels[part], batch_label=label)
    return images, labels


def test_reads_back_what_was_written(tmp_path):
    images, labels = _fake_cifar(tmp_path)
    train_images, train_labels = load_cifar10(tmp_path, "train")
    test_images, test_labels = load_cifar10(tmp_path, "test")
    assert train_images.shape == (100, 3, 32, 32) and train_images.dtype == torch.uint8
    assert train_labels.dtype == torch.int64 and test_images.shape == (20, 3, 32, 32)
    np.testing.assert_array_equal(train_images.numpy(), images[:100])
    np.testing.assert_array_equal(test_images.numpy(), images[100:])
    np.testing.assert_array_equal(torch.cat([train_labels, test_labels]).numpy(), labels)
    nested = tmp_path / "outer"
    (nested / "cifar-10-batches-py").mkdir(parents=True)
    write_cifar10_batch(nested / "cifar-10-batches-py" / "test_batch", images[:3], labels[:3])
    assert torch.equal(load_cifar10(nested, "test")[0], torch.from_numpy(images[:3]))


def test_written_batch_has_the_official_layout(tmp_path):
    images, labels = _fake_cifar(tmp_path, per_batch=4)
    # How everyone reads the official files: a dict with byte-string keys, a (N, 3072) uint8
    # array whose rows are the red, then green, then blue planes, and a list of labels.
    with open(tmp_path / "test_batch", "rb") as file:
        batch = pickle.load(file, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"batch_label"] == b"testing batch 1 of 1"
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (4, 3072)
    assert batch[b"data"][1, 1024 + 32 * 2 + 5] == images[21, 1, 2, 5]  # green, row 2, col 5
    assert batch[b"labels"] == labels[20:].tolist() and isinstance(batch[b"labels"], list)
    assert len(batch[b"filenames"]) == 4 and isinstance(batch[b"filenames"][0], bytes)
    # Python 2 strings, as in the official files: latin1 gives str keys, and the default
    # ASCII decoding fails on the pixel bytes (the well-known UnicodeDecodeError).
    with open(tmp_path / "test_batch", "rb") as file:
        assert set(pickle.load(file, encoding="latin1")) == {
            "batch_label",
            "labels",
            "data",
            "filenames",
        }
    with open(tmp_path / "test_batch", "rb") as file, pytest.raises(UnicodeDecodeError):
        pickle.load(file)
    assert not is_official_test_batch(tmp_path / "test_batch")
    assert not is_official_test_batch(tmp_path)


def test_missing_files_are_listed_with_where_genvid_looked(tmp_path):
    _fake_cifar(tmp_path, per_batch=2)
    (tmp_path / "data_batch_3").unlink()
    (tmp_path / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_cifar10(tmp_path, "train")
    message = str(error.value)
    assert "data_batch_3, data_batch_5" in message and str(tmp_path) in message
    assert "\n" not in message
    assert load_cifar10(tmp_path, "test")[0].shape == (2, 3, 32, 32)


def _dump(path, obj, protocol: int = 2) -> None:
    with open(path, "wb") as file:
        pickle.dump(obj, file, protocol=protocol)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"labels": [1], "pixels": np.zeros((1, 3072), np.uint8)}, "no key 'data'"),
        ({"labels": [1], "data": np.zeros((1, 3000), np.uint8)}, "3000 values, expected 3072"),
        ({"labels": [1], "data": np.zeros((1, 3072), np.float32)}, "dtype 'f4'"),
        ({"labels": [1, 2], "data": np.zeros((1, 3072), np.uint8)}, "1 images but 2 labels"),
        ({"labels": [12], "data": np.zeros((1, 3072), np.uint8)}, "outside 0-9"),
        ([1, 2, 3], "holds a list"),
    ],
)
def test_bad_batches_give_one_line(tmp_path, content, message):
    _dump(tmp_path / "test_batch", content)
    with pytest.raises(ValueError, match=message) as error:
        load_cifar10(tmp_path, "test")
    assert "\n" not in str(error.value) and "test_batch" in str(error.value)


def test_not_a_pickle_and_unsafe_pickles_are_refused(tmp_path):
    (tmp_path / "test_batch").write_bytes(b"this is not a pickle at all")
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch") as error:
        load_cifar10(tmp_path, "test")
    assert "\n" not in str(error.value)

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    _dump(tmp_path / "test_batch", {"data": Exploit(), "labels": []})
    with pytest.raises(ValueError, match=r"refusing to load global (__builtin__|builtins)\.print"):
        load_cifar10(tmp_path, "test")
    # A Python 3 protocol-2 pickle spells bytes with _codecs.encode: admitted.
    _dump(tmp_path / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 9]})
    assert load_cifar10(tmp_path, "test")[1].tolist() == [0, 9]


def _load_or_value_error(root, path) -> None:
    """Load `root`'s test batch: valid arrays, or a one-line ValueError naming `path`."""
    try:
        images, labels = load_cifar10(root, "test")
    except ValueError as error:
        assert str(path) in str(error) and "\n" not in str(error), str(error)
        return
    assert images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
    assert labels.dtype == torch.int64 and labels.shape == (len(images),)
    assert len(labels) == 0 or 0 <= labels.min() <= labels.max() <= 9


def test_damaged_batches_raise_value_error_naming_the_file(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8)
    path = write_cifar10_batch(tmp_path / "test_batch", images, rng.integers(0, 10, 10))
    content = path.read_bytes()
    header = content.index(images.tobytes())  # the opcodes before the pixel bytes (~190)
    for _ in range(400):
        damaged = bytearray(content)
        for where in rng.integers(0, header, rng.integers(1, 4)):
            damaged[where] = rng.integers(0, 256)
        path.write_bytes(bytes(damaged))
        _load_or_value_error(tmp_path, path)
    for end in range(0, len(content), 397):
        path.write_bytes(content[:end])
        _load_or_value_error(tmp_path, path)


def _recursive_list() -> list:
    values: list = []
    values.append(values)
    return values


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # APPENDS on the dict instead of the list: what made pickle raise AttributeError
        (b"\x80\x02}(K\x01e.", "AttributeError: 'dict' object has no attribute"),
        # _codecs.encode asked for another codec (LookupError), and a length beyond the file
        (
            b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x03\x00\x00\x00foo\x86R.",
            "refusing _codecs.encode",
        ),
        (b"\x80\x05\x96" + (2**62).to_bytes(8, "little") + b"abc", "bytearray8"),
        # labels numpy cannot make an integer vector of
        (
            pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [[1], [1, 2]]}, 2),
            "labels are a list",
        ),
        (
            pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": _recursive_list()}, 2),
            "labels are a list",
        ),
    ],
    ids=["appends-on-a-dict", "another-codec", "length-beyond-the-file", "ragged", "recursive"],
)
def test_malformed_pickles_give_one_line_naming_the_file(tmp_path, content, message):
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        load_cifar10(tmp_path, "test")
    assert str(tmp_path / "test_batch") in str(error.value) and "\n" not in str(error.value)


def test_a_damaged_dtype_state_never_reaches_numpy(tmp_path):
    # numpy's dtype.__setstate__ trusts its input: fields = (None, None) crashed the process.
    images = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3, 32, 32)
    path = write_cifar10_batch(tmp_path / "test_batch", images, [4, 2])
    content = path.read_bytes()
    path.write_bytes(content.replace(b"U\x01|NNN", b"U\x01|NN\x86", 1))
    assert path.read_bytes() != content
    loaded, labels = load_cifar10(tmp_path, "test")
    np.testing.assert_array_equal(loaded.numpy(), images)
    assert labels.tolist() == [4, 2]
    # Python 3's numpy pickles keep the byte order in the dtype's state.
    _dump(path, {"data": np.zeros((1, 3072), np.uint8), "labels": np.array([7], ">i8")})
    assert load_cifar10(tmp_path, "test")[1].tolist() == [7]


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"uint8 \[N, 3, 32, 32\]"):
        write_cifar10_batch(tmp_path / "x", np.zeros((2, 32, 32, 3), np.uint8), [0, 1])
    with pytest.raises(ValueError, match="integers in 0-9"):
        write_cifar10_batch(tmp_path / "x", np.zeros((2, 3, 32, 32), np.uint8), [0, 10])
