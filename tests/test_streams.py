"""Data streams (pure functions of seed, step, rank) and the registry of named data sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genvid.data import (
    MovingMNIST,
    MovingMNISTStream,
    Stream,
    TensorStream,
    default_split,
    describe,
    eval_set,
    frame_size,
    load_binarized_mnist,
    load_mnist,
    names,
    regenerate_test_set,
    train_stream,
    write_cifar10_batch,
    write_moving_mnist,
)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_mnist("test")[0][:500]


def _numbered(count: int) -> torch.Tensor:
    """Examples whose single value is their own index: uint8 [count, 1, 1, 1]."""
    return torch.arange(count, dtype=torch.uint8).reshape(count, 1, 1, 1)


def _assert_ranks_concatenate(stream: Stream, steps: range, batch_size: int) -> None:
    for step in steps:
        whole = stream.batch(step, batch_size)
        for world_size in (2, 4):
            parts = [stream.batch(step, batch_size, rank, world_size) for rank in range(world_size)]
            assert all(len(part) == batch_size // world_size for part in parts)
            assert torch.equal(torch.cat(parts), whole)


def test_tensor_stream_visits_every_item_once_per_epoch():
    stream = TensorStream(_numbered(10), seed=3)
    assert isinstance(stream, Stream) and stream.example_shape == (1, 1, 1)
    seen = torch.cat([stream.batch(step, 4) for step in range(15)]).flatten()  # 60 = 6 epochs
    epochs = seen.reshape(6, 10)
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(10))
    assert len({tuple(epoch.tolist()) for epoch in epochs}) == 6  # a new order every epoch
    assert epochs[0].tolist() != list(range(10))  # shuffled


def test_tensor_stream_is_a_pure_function_of_seed_step_rank():
    data = _numbered(10)
    stream = TensorStream(data, seed=3)
    _assert_ranks_concatenate(stream, range(6), batch_size=4)  # steps cross epoch boundaries
    late = [stream.batch(step, 4) for step in range(9)]
    fresh = TensorStream(data, seed=3)
    assert torch.equal(fresh.batch(8, 4), late[8])  # a resumed run sees the same data
    other = TensorStream(data, seed=4)
    assert not all(torch.equal(other.batch(s, 4), late[s]) for s in range(3))
    with pytest.raises(ValueError, match="not divisible by world_size 3"):
        stream.batch(0, 4, 0, 3)
    with pytest.raises(ValueError, match="rank"):
        stream.batch(0, 4, 2, 2)
    with pytest.raises(ValueError, match="uint8"):
        TensorStream(data.float(), seed=0)


def test_dynamic_binarisation_is_fresh_per_position_and_identical_per_rank(digits):
    stream = TensorStream(digits[:8], seed=1, binarize=True)
    first = stream.batch(0, 8)
    assert set(first.unique().tolist()) == {0, 1}
    _assert_ranks_concatenate(stream, range(3), batch_size=8)
    assert torch.equal(
        TensorStream(digits[:8], seed=1, binarize=True).batch(2, 8), stream.batch(2, 8)
    )
    # Epoch 1 shows the same 8 digits in another order with new noise.
    grey = TensorStream(digits[:8], seed=1)
    again = stream.batch(1, 8)
    order_0, order_1 = grey.batch(0, 8), grey.batch(1, 8)
    match = [int((order_0 == order_1[i]).flatten(1).all(1).nonzero()) for i in range(8)]
    assert any(not torch.equal(again[i], first[match[i]]) for i in range(8))
    assert abs(first.float().mean() - order_0.float().mean() / 255) < 0.02


def test_moving_mnist_stream_uses_each_sequence_once(digits):
    stream = MovingMNISTStream(digits, seed=9, num_frames=6)
    assert isinstance(stream, Stream) and stream.example_shape == (6, 1, 64, 64)
    generator = MovingMNIST(digits, seed=9, num_frames=6)
    for step in range(3):
        assert torch.equal(
            stream.batch(step, 4), generator.sequences(range(4 * step, 4 * step + 4))
        )
    _assert_ranks_concatenate(stream, range(2), batch_size=4)
    fresh = MovingMNISTStream(digits, seed=9, num_frames=6)
    assert torch.equal(fresh.batch(5, 4, 1, 2), generator.sequences([22, 23]))
    stochastic = MovingMNISTStream(digits, seed=9, num_frames=6, stochastic=True)
    _assert_ranks_concatenate(stochastic, range(2), batch_size=4)


def test_registry_names_and_errors():
    assert set(names()) == {
        "binarized-mnist",
        "binarized-mnist-dynamic",
        "mnist",
        "cifar10",
        "moving-mnist",
        "moving-mnist-stochastic",
        "moving-mnist-srvp",
        "video-folder",
        "imagenet32",
        "imagenet64",
        "pacman",
    }
    assert default_split("binarized-mnist") == "test"
    assert default_split("imagenet64") == "valid"
    with pytest.raises(
        ValueError, match="unknown data set 'imagenet'; valid names: binarized"
    ) as error:
        train_stream("imagenet", seed=0)
    assert "video-folder" in str(error.value)
    with pytest.raises(ValueError, match="no split 'valid'; splits: train, test"):
        eval_set("mnist", "valid")
    with pytest.raises(ValueError, match="cifar10 needs the directory"):
        train_stream("cifar10", seed=0)
    with pytest.raises(ValueError, match="num_frames applies to Moving MNIST only"):
        train_stream("mnist", seed=0, num_frames=5)
    infos = {info.name: info for info in describe()}
    assert set(infos) == set(names())
    assert infos["mnist"].found and infos["binarized-mnist"].found
    assert not infos["cifar10"].found and not infos["video-folder"].found


def test_registry_mnist_sets():
    stream = train_stream("binarized-mnist", seed=0)
    assert stream.example_shape == (1, 28, 28) and set(stream.batch(0, 16).unique().tolist()) <= {
        0,
        1,
    }
    dynamic = train_stream("binarized-mnist-dynamic", seed=0)
    assert len(dynamic) == 50_000 and set(dynamic.batch(0, 16).unique().tolist()) == {0, 1}
    assert torch.equal(eval_set("binarized-mnist-dynamic", "valid"), load_binarized_mnist("valid"))
    assert torch.equal(
        eval_set("binarized-mnist", "test", limit=7), load_binarized_mnist("test")[:7]
    )
    grey = eval_set("mnist", "test")
    assert grey.shape == (10_000, 1, 28, 28) and grey.max() == 255
    assert train_stream("mnist", seed=0).batch(0, 2).max() > 1


def test_registry_moving_mnist_sets(tmp_path):
    assert train_stream("moving-mnist", seed=1).batch(0, 2).shape == (2, 20, 1, 64, 64)
    assert train_stream("moving-mnist-stochastic", seed=1).example_shape == (15, 1, 64, 64)
    assert torch.equal(eval_set("moving-mnist", limit=3), regenerate_test_set(3))
    assert eval_set("moving-mnist-stochastic", limit=2).shape == (2, 25, 1, 64, 64)
    videos = regenerate_test_set(4)
    path = str(write_moving_mnist(tmp_path / "mine.npy", videos))
    assert torch.equal(eval_set(path), videos)
    assert torch.equal(eval_set(path, limit=2, num_frames=10), videos[:2, :10])
    assert train_stream(path, seed=0).batch(0, 4).shape == (4, 20, 1, 64, 64)
    assert frame_size(path) == (64, 64)


@pytest.mark.parametrize(
    "name",
    [
        "binarized-mnist",
        "binarized-mnist-dynamic",
        "mnist",
        "moving-mnist",
        "moving-mnist-stochastic",
        "moving-mnist-srvp",
    ],
)
def test_frame_size_is_the_streams_without_reading_the_data(name):
    assert frame_size(name) == train_stream(name, seed=0).example_shape[-2:]


def test_frame_size_names_an_unknown_data_set():
    with pytest.raises(ValueError, match="unknown data set 'mnist64'"):
        frame_size("mnist64")


def test_registry_user_data(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    for k in range(5):
        write_cifar10_batch(tmp_path / f"data_batch_{k + 1}", images[2 * k : 2 * k + 2], [k, k])
    write_cifar10_batch(tmp_path / "test_batch", images[10:], [1, 2])
    assert torch.equal(eval_set("cifar10", root=tmp_path), torch.from_numpy(images[10:]))
    assert train_stream("cifar10", seed=0, root=tmp_path).batch(0, 10).shape == (10, 3, 32, 32)
    assert frame_size("cifar10") == (32, 32)
    assert {i.name: i.found for i in describe(tmp_path)}["cifar10"]

    videos = tmp_path / "videos"
    for split, count in (("train", 40), ("test", 20)):
        folder = videos / split / "clip"
        folder.mkdir(parents=True)
        for k in range(count):
            Image.fromarray(np.full((32, 32, 3), k, np.uint8)).save(folder / f"{k}.png")
    assert train_stream("video-folder", seed=0, root=videos).batch(0, 2).shape == (2, 20, 3, 64, 64)
    assert frame_size("video-folder") == (64, 64)
    assert eval_set("video-folder", "test", root=videos).shape == (1, 20, 3, 64, 64)
    with pytest.raises(FileNotFoundError, match="valid"):
        eval_set("video-folder", "valid", root=videos)
