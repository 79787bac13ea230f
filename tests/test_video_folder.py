"""A user's videos: files written here with PyAV, frame folders written with PIL."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from genvid.data import VideoFolder

av = pytest.importorskip("av")
CONTAINERS = [  # (suffix, codecs to try in order)
    (".mp4", ("libx264", "mpeg4")),
    (".avi", ("mpeg4", "mjpeg")),
    (".webm", ("libvpx", "libvpx-vp9")),
]


def _levels(count: int) -> list[int]:
    return [20 + 15 * k for k in range(count)]  # frame k is a flat grey 20 + 15 k


def _write_video(path, frames: np.ndarray, codecs: tuple[str, ...]) -> None:
    codec = next((c for c in codecs if c in av.codecs_available), None)
    if codec is None:
        pytest.skip(f"this PyAV build has none of {codecs}")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _flat_frames(count: int, height: int = 24, width: int = 32) -> np.ndarray:
    return np.stack([np.full((height, width, 3), v, np.uint8) for v in _levels(count)])


@pytest.mark.parametrize(("suffix", "codecs"), CONTAINERS)
def test_video_files_become_clips_in_frame_order(tmp_path, suffix, codecs):
    _write_video(tmp_path / f"clip{suffix}", _flat_frames(12), codecs)
    clips = VideoFolder(tmp_path, size=(16, 8), clip_length=5)
    assert len(clips) == 2  # 12 frames: two clips of 5, the last 2 frames dropped
    assert clips[0].shape == (5, 3, 16, 8) and clips[0].dtype == torch.uint8
    video = clips.clips()
    assert video.shape == (2, 5, 3, 16, 8)
    means = video.float().mean((2, 3, 4)).flatten()
    np.testing.assert_allclose(means.numpy(), _levels(10), atol=4)  # lossy codecs
    assert clips.clip_sources == [(tmp_path / f"clip{suffix}", 0), (tmp_path / f"clip{suffix}", 5)]


def test_frame_folders_sorted_by_name_resized_and_grey(tmp_path):
    folder = tmp_path / "walk"
    folder.mkdir()
    for k, level in enumerate(_levels(12)):
        image = np.full((40, 20, 3), level, np.uint8)
        image[:, 10:] = 255 - level  # right half differs: resizing must keep left from right
        Image.fromarray(image).save(folder / f"frame_{k + 1}.png")  # frame_10 sorts after 9
    (folder / "notes.txt").write_text("ignored")
    rgb = VideoFolder(tmp_path, size=(8, 16), clip_length=4)
    assert rgb.clips().shape == (3, 4, 3, 8, 16)
    frames = rgb.clips().reshape(12, 3, 8, 16).int()
    assert frames[:, :, :, :7].flatten(1).unique(dim=1).shape[1] == 1  # left half flat
    assert frames[:, 0, 0, 0].tolist() == _levels(12)
    assert frames[:, 0, 0, -1].tolist() == [255 - v for v in _levels(12)]
    grey = VideoFolder(tmp_path, size=(8, 16), clip_length=4, grey=True)
    assert grey.clips().shape == (3, 4, 1, 8, 16)
    assert grey.clips()[0, :, 0, 0, 0].tolist() == _levels(4)  # grey of a grey is itself


def test_videos_and_folders_together(tmp_path):
    _write_video(tmp_path / "b.mp4", _flat_frames(6), ("libx264", "mpeg4"))
    (tmp_path / "a").mkdir()
    for k in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a" / f"{k}.jpg")
    clips = VideoFolder(tmp_path, size=(8, 8), clip_length=3)
    assert [source.name for source, _ in clips.clip_sources] == ["b.mp4", "b.mp4", "a"]


def test_bad_input_gives_one_clear_line(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ValueError, match="cannot decode video .*broken.mp4") as error:
        VideoFolder(tmp_path)
    assert "\n" not in str(error.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no videos") as error:
        VideoFolder(empty)
    with pytest.raises(FileNotFoundError, match="no video folder"):
        VideoFolder(tmp_path / "absent")
    short = tmp_path / "short"
    (short / "frames").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(short / "frames" / "0.png")
    with pytest.raises(ValueError, match="has 20 frames"):
        VideoFolder(short, clip_length=20)
    (short / "frames" / "1.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read frame .*1\.png"):
        VideoFolder(short, clip_length=1)


def test_missing_pyav_is_explained(tmp_path, monkeypatch):
    _write_video(tmp_path / "clip.mp4", _flat_frames(2), ("libx264", "mpeg4"))
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    with pytest.raises(ImportError, match="pip install av"):
        VideoFolder(tmp_path, clip_length=1)
