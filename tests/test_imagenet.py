"""Downsampled ImageNet in both layouts, on tiny files written by the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genvid.data import (
    describe,
    eval_set,
    frame_size,
    load_downsampled_imagenet,
    names,
    train_stream,
)
from genvid.data.imagenet import NPZ_TRAIN_FILES
from genvid.presets import get_preset


def _images(count: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 [count, 3, size, size]; image 0's pixel (2, 1) is red 10, green 20, blue 30."""
    images = np.random.default_rng(seed).integers(0, 256, (count, 3, size, size), dtype=np.uint8)
    images[0, :, 2, 1] = (10, 20, 30)
    return images


def _write_pngs(folder, images: np.ndarray, file_names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, file_names, strict=True):
        Image.fromarray(image.transpose(1, 2, 0), "RGB").save(folder / name)  # (H, W, 3)


def _write_npz(path, data: np.ndarray, *, compressed: bool = False) -> None:
    save = np.savez_compressed if compressed else np.savez
    save(path, data=data, labels=np.arange(1, len(data) + 1))


def test_png_folder_in_name_order_and_rgb(tmp_path):
    images = _images(5, 8)
    order = [2, 0, 4, 1, 3]  # written out of order: the reader sorts by file name
    _write_pngs(tmp_path / "valid_8x8", images[order], [f"{i:07d}.png" for i in order])
    grey = Image.fromarray(np.full((8, 8), 77, dtype=np.uint8), "L")
    grey.save(tmp_path / "valid_8x8" / "0000009.png")
    loaded = load_downsampled_imagenet(tmp_path, "valid", 8)
    assert loaded.shape == (6, 3, 8, 8) and loaded.dtype == torch.uint8
    np.testing.assert_array_equal(loaded[:5].numpy(), images)
    assert loaded[0, :, 2, 1].tolist() == [10, 20, 30]
    assert (loaded[5] == 77).all()  # a grey PNG becomes three equal channels


def test_npz_batches_are_channel_major(tmp_path):
    size = 4
    images = _images(15, size)
    # The official rows: 16 red values, then 16 green, then 16 blue, each plane row-major.
    rows = np.concatenate([images[:, c].reshape(15, -1) for c in range(3)], axis=1)
    assert rows[0, 2 * size + 1] == 10 and rows[0, 16 + 2 * size + 1] == 20
    counts = [2, 1, 3, 1, 1, 2, 1, 1, 1, 2]
    starts = np.cumsum([0, *counts])
    for k, name in enumerate(NPZ_TRAIN_FILES):
        _write_npz(tmp_path / name, rows[starts[k] : starts[k + 1]], compressed=k % 2 == 1)
    _write_npz(tmp_path / "val_data.npz", rows[:3], compressed=True)
    loaded = load_downsampled_imagenet(tmp_path, "train", size)
    assert loaded.shape == (15, 3, size, size) and loaded.dtype == torch.uint8
    np.testing.assert_array_equal(loaded.numpy(), images)
    assert loaded[0, :, 2, 1].tolist() == [10, 20, 30]
    np.testing.assert_array_equal(load_downsampled_imagenet(tmp_path, "valid", size), images[:3])


def test_wrong_size_and_unreadable_images_name_the_file(tmp_path):
    folder = tmp_path / "train_8x8"
    _write_pngs(folder, _images(2, 8), ["a.png", "b.png"])
    _write_pngs(folder, _images(1, 9), ["c.png"])
    with pytest.raises(ValueError, match=r"c\.png: image is 9x9, not 8x8"):
        load_downsampled_imagenet(tmp_path, "train", 8)
    (folder / "c.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"c\.png: not a readable image"):
        load_downsampled_imagenet(tmp_path, "train", 8)
    (folder / "c.png").unlink()
    assert load_downsampled_imagenet(tmp_path, "train", 8).shape == (2, 3, 8, 8)


def test_missing_files_say_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder train_64x64/ and no train_data_batch_1"):
        load_downsampled_imagenet(tmp_path, "train", 64)
    with pytest.raises(FileNotFoundError, match="no folder valid_32x32/ and no val_data.npz"):
        load_downsampled_imagenet(tmp_path / "absent", "valid", 32)
    _write_npz(tmp_path / "train_data_batch_1.npz", np.zeros((1, 48), dtype=np.uint8))
    with pytest.raises(FileNotFoundError, match=r"no train_data_batch_2\.npz, .*batch_10\.npz"):
        load_downsampled_imagenet(tmp_path, "train", 4)
    (tmp_path / "valid_4x4").mkdir()
    with pytest.raises(FileNotFoundError, match="no .png files in"):
        load_downsampled_imagenet(tmp_path, "valid", 4)
    with pytest.raises(ValueError, match="split must be 'train' or 'valid', got 'test'"):
        load_downsampled_imagenet(tmp_path, "test", 4)


def test_corrupt_npz_names_the_file(tmp_path):
    path = tmp_path / "val_data.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"val_data\.npz: not an npz batch"):
        load_downsampled_imagenet(tmp_path, "valid", 4)
    np.savez(path, labels=np.arange(3))
    with pytest.raises(ValueError, match=r"val_data\.npz: no key 'data'"):
        load_downsampled_imagenet(tmp_path, "valid", 4)
    _write_npz(path, np.zeros((3, 48), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"val_data\.npz: data is .* expected uint8 \(N, 12288\)"):
        load_downsampled_imagenet(tmp_path, "valid", 64)
    _write_npz(path, np.zeros((3, 48), dtype=np.int64))
    with pytest.raises(ValueError, match=r"val_data\.npz: data is int64"):
        load_downsampled_imagenet(tmp_path, "valid", 4)


def test_registry_round_trip(tmp_path):
    train, valid = _images(3, 64), _images(2, 64, seed=1)
    _write_pngs(tmp_path / "train_64x64", train, ["0.png", "1.png", "2.png"])
    _write_pngs(tmp_path / "valid_64x64", valid, ["0.png", "1.png"])
    assert {"imagenet32", "imagenet64"} <= set(names())
    assert get_preset("multiscale-row-lstm-imagenet64").data == "imagenet64"
    stream = train_stream("imagenet64", seed=0, root=tmp_path)
    assert len(stream) == 3 and stream.example_shape == (3, 64, 64)
    assert frame_size("imagenet64") == (64, 64) and frame_size("imagenet32") == (32, 32)
    batch = stream.batch(0, 3)
    assert batch.shape == (3, 3, 64, 64) and batch.dtype == torch.uint8
    assert sorted(batch.flatten(1).sum(1).tolist()) == sorted(
        torch.from_numpy(train).flatten(1).sum(1).tolist()
    )  # one epoch: each training image exactly once
    assert torch.equal(eval_set("imagenet64", "valid", root=tmp_path), torch.from_numpy(valid))
    assert eval_set("imagenet64", "train", root=tmp_path, limit=2).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="imagenet64 has no split 'test'; splits: train, valid"):
        eval_set("imagenet64", "test", root=tmp_path)
    with pytest.raises(ValueError, match="imagenet64 needs the directory"):
        train_stream("imagenet64", seed=0)
    infos = {info.name: info for info in describe(tmp_path)}
    assert infos["imagenet64"].found and not infos["imagenet32"].found
    assert infos["imagenet64"].splits == ("train", "valid")
    assert not {info.name: info for info in describe()}["imagenet64"].found
