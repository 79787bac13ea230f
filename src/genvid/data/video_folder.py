"""A user's own videos: video files and folders of frames, resized and cut into clips.

`root` may hold video files (.mp4, .avi, .webm, .mkv, .mov; decoded with PyAV, imported only
when a video file is found) and sub-folders of frame images (.png, .jpg, .jpeg; one folder is
one video, frames in natural name order, so `frame_2.png` comes before `frame_10.png`). Each
video is decoded once, every frame resized with PIL's bilinear filter (which widens its
support when shrinking, i.e. antialiases) straight to `size` (the aspect ratio is not kept)
and optionally converted to grey (PIL "L": ITU-R 601-2 luma), then cut into non-overlapping
clips of `clip_length` frames; a trailing remainder shorter than a clip is dropped.

Deviations: all clips are held in memory as uint8 (12 KiB per 64x64 RGB frame), which suits
the small video sets this reader is for; nothing is streamed from disk.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _import_av():  # noqa: ANN202 (the module)
    try:
        import av
    except ImportError:
        raise ImportError(
            "reading video files needs PyAV: pip install av (or pip install 'genvid[video]')"
        ) from None
    return av


def _prepare(image: Image.Image, size: tuple[int, int], grey: bool) -> np.ndarray:
    image = image.convert("L" if grey else "RGB")
    image = image.resize((size[1], size[0]), Image.BILINEAR)
    array = np.asarray(image)
    return array[None] if grey else array.transpose(2, 0, 1)  # (C, H, W)


def decode_video(path: str | Path, size: tuple[int, int], grey: bool = False) -> np.ndarray:
    """All frames of a video file, resized: uint8 (F, C, H, W)."""
    av = _import_av()
    path = Path(path)
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            for frame in container.decode(container.streams.video[0]):
                frames.append(_prepare(frame.to_image(), size, grey))
    except av.FFmpegError as error:
        raise ValueError(f"cannot decode video {path}: {error}") from None
    if not frames:
        raise ValueError(f"{path}: no decodable frames")
    return np.stack(frames)


def read_frame_folder(folder: str | Path, size: tuple[int, int], grey: bool = False) -> np.ndarray:
    """The frame images of a folder in natural name order, resized: uint8 (F, C, H, W)."""
    folder = Path(folder)
    paths = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
    )
    if not paths:
        raise FileNotFoundError(f"no frame images (.png/.jpg) in {folder}")
    frames = []
    for path in paths:
        try:
            with Image.open(path) as image:
                frames.append(_prepare(image, size, grey))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"cannot read frame {path}: {error}") from None
    return np.stack(frames)


class VideoFolder:
    """Clips from the videos and frame folders in `root`.

    Args:
        root: directory of video files and/or sub-folders of frame images.
        size: (H, W) every frame is resized to.
        clip_length: frames per clip T.
        grey: convert frames to one grey channel (else RGB).

    Shape:
        `self[i]`: uint8 [T, C, H, W]; `clips()`: uint8 [N, T, C, H, W].
    """

    def __init__(
        self,
        root: str | Path,
        *,
        size: tuple[int, int] = (64, 64),
        clip_length: int = 20,
        grey: bool = False,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"no video folder at {root.resolve()}")
        if clip_length < 1:
            raise ValueError(f"clip_length must be >= 1, got {clip_length}")
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be (H, W) with positive sides, got {size}")
        self.root, self.size, self.clip_length, self.grey = root, tuple(size), clip_length, grey
        entries = sorted(root.iterdir(), key=_natural_key)
        videos = [p for p in entries if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        folders = [
            p
            for p in entries
            if p.is_dir() and any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir())
        ]
        self.sources = videos + folders
        if not self.sources:
            raise FileNotFoundError(
                f"no videos ({', '.join(VIDEO_SUFFIXES)}) or folders of frames in {root.resolve()}"
            )
        clips, self.clip_sources = [], []  # clip_sources[i] = (source, first frame)
        for source in self.sources:
            read = decode_video if source.is_file() else read_frame_folder
            frames = read(source, self.size, grey)
            for start in range(0, len(frames) - clip_length + 1, clip_length):
                clips.append(frames[start : start + clip_length])
                self.clip_sources.append((source, start))
        if not clips:
            raise ValueError(
                f"no video in {root} has {clip_length} frames (clip_length); use shorter clips"
            )
        self._clips = torch.from_numpy(np.stack(clips))  # (N, T, C, H, W)

    def __len__(self) -> int:
        return len(self._clips)

    def __getitem__(self, index: int) -> Tensor:
        return self._clips[index]

    def clips(self) -> Tensor:
        """Every clip: uint8 [N, T, C, H, W]."""
        return self._clips
