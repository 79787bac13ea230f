"""Pictures: image grids (PNG), continued videos side by side (GIF), per-step metric plots."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from genvid.atomic import atomic_write


def image_grid(images: Tensor, *, nrow: int | None = None, padding: int = 2) -> Tensor:
    """Tile images into one grid image.

    Args:
        images: uint8 `[N, C, H, W]` with C in {1, 3}; binary 0/1 data are scaled to 0/255.
        nrow: images per row (default: about the square root of N).
        padding: pixels of black between tiles.

    Returns:
        uint8 `[C, H', W']`.
    """
    if images.dim() != 4 or images.dtype != torch.uint8:
        raise ValueError(
            f"image_grid wants uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}"
        )
    n, c, h, w = images.shape
    if images.max() <= 1:
        images = images * 255
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = torch.zeros(
        c, ncol * (h + padding) + padding, nrow * (w + padding) + padding, dtype=torch.uint8
    )
    for k in range(n):
        r, q = divmod(k, nrow)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top : top + h, left : left + w] = images[k]
    return grid


def save_image_grid(images: Tensor, path: str | Path, **grid_kwargs) -> Path:
    """Write `image_grid(images)` as a PNG file and return its path."""
    from PIL import Image

    grid = image_grid(images.cpu(), **grid_kwargs)
    array = grid.permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path)
    return path


def video_frames(
    context: Tensor, truth: Tensor, samples: Tensor | list[Tensor], *, padding: int = 2
) -> Tensor:
    """Side-by-side frames of continued videos: one row per video; columns ground truth, then
    each sample. Context frames appear in every column with a green border; predicted frames
    have a red border (ground truth: white).

    Args:
        context: uint8 `[B, Tc, C, H, W]`, C in {1, 3}; binary 0/1 data are scaled to 0/255.
        truth: uint8 `[B, K, C, H, W]`, the real continuation.
        samples: uint8 `[B, K, C, H, W]`, or a list of them (several samples per video).

    Returns:
        uint8 RGB frames `[Tc + K, H', W', 3]`.
    """
    columns = [truth, *(samples if isinstance(samples, (list, tuple)) else [samples])]
    videos = [torch.cat([context, column], dim=1) for column in columns]
    for video in videos:
        if video.dim() != 5 or video.dtype != torch.uint8 or video.shape != videos[0].shape:
            raise ValueError(
                "context, truth and samples must be uint8 [B, T, C, H, W] of one size, got "
                f"{video.dtype} {tuple(video.shape)}"
            )
    b, frames, c, h, w = videos[0].shape
    scale = 255 if max(int(v.max()) for v in videos) <= 1 else 1
    tile_h, tile_w = h + 2 * padding, w + 2 * padding
    out = torch.zeros(frames, b * tile_h, len(videos) * tile_w, 3, dtype=torch.uint8)
    green, red, white = (torch.tensor(rgb, dtype=torch.uint8) for rgb in _BORDERS)
    for t in range(frames):
        for k, video in enumerate(videos):
            border = green if t < context.shape[1] else (white if k == 0 else red)
            for n in range(b):
                top, left = n * tile_h, k * tile_w
                out[t, top : top + tile_h, left : left + tile_w] = border
                frame = (video[n, t].cpu() * scale).expand(3, h, w) if c == 1 else video[n, t]
                inner = out[
                    t, top + padding : top + padding + h, left + padding : left + padding + w
                ]
                inner.copy_(frame.cpu().permute(1, 2, 0))
    return out


_BORDERS = ((0, 160, 0), (200, 0, 0), (255, 255, 255))  # context, sample, ground truth


def save_video_gif(
    context: Tensor,
    truth: Tensor,
    samples: Tensor | list[Tensor],
    path: str | Path,
    *,
    fps: float = 4.0,
) -> Path:
    """Write `video_frames(context, truth, samples)` as a looping GIF and return its path."""
    import imageio.v2 as imageio

    frames = video_frames(context, truth, samples).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, list(frames), format="GIF", duration=1.0 / fps, loop=0)
    return path


def save_clip_grid_gif(clips: Tensor, path: str | Path, *, fps: float = 8.0) -> Path:
    """Write clips `[N, T, C, H, W]` (uint8) as one looping GIF, the clips tiled in a grid."""
    import imageio.v2 as imageio

    if clips.dim() != 5 or clips.dtype != torch.uint8:
        raise ValueError(f"clips must be uint8 [N, T, C, H, W], got {tuple(clips.shape)}")
    frames = [image_grid(clips[:, t].cpu()).permute(1, 2, 0) for t in range(clips.shape[1])]
    frames = [(f.expand(*f.shape[:2], 3) if f.shape[2] == 1 else f).numpy() for f in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        path, lambda f: imageio.mimsave(f, frames, format="GIF", duration=1.0 / fps, loop=0)
    )
    return path


# A frame-prediction report's `baselines`: key -> (legend, line style), drawn in grey.
BASELINE_STYLES = {"black": ("black frame", "--"), "copy-last": ("copy last", ":")}


def plot_frame_prediction(
    reports: dict[str, dict], path: str | Path, *, baselines: dict[str, dict] | None = None
) -> Path:
    """SSIM and PSNR per predicted step, one line per report with its 95 % band, side by side,
    and the baselines of each data set as grey reference lines.

    Args:
        reports: label -> a frame-prediction report (`ssim_per_step`, `ssim_per_step_ci95`,
            `psnr_per_step`, `psnr_per_step_ci95`, `context`), e.g. several runs' eval.json.
        baselines: data-set label ("" for the only one) -> a report whose `baselines` hold
            every key of `BASELINE_STYLES` with `ssim_per_step` and `psnr_per_step`.
    """
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'genvid[plots]'") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for label, report in reports.items():
        for axis, metric in zip(axes, ("ssim", "psnr"), strict=True):
            mean = torch.tensor(report[f"{metric}_per_step"])
            half = torch.tensor(report[f"{metric}_per_step_ci95"])
            steps = torch.arange(len(mean)) + report["context"] + 1  # frame numbers, 1-based
            (line,) = axis.plot(steps, mean, label=label)
            axis.fill_between(steps, mean - half, mean + half, alpha=0.25, color=line.get_color())
    for k, (data, report) in enumerate((baselines or {}).items()):
        # mid grey; several data sets: one shade each, dark to light
        grey = f"{0.3 + 0.4 * k / (len(baselines) - 1):.2f}" if len(baselines) > 1 else "0.5"
        for name, (legend, style) in BASELINE_STYLES.items():
            for axis, metric in zip(axes, ("ssim", "psnr"), strict=True):
                mean = report["baselines"][name][f"{metric}_per_step"]
                steps = torch.arange(len(mean)) + report["context"] + 1
                label = f"{legend}, {data}" if data else legend
                axis.plot(steps, mean, color=grey, linestyle=style, label=label)
    for axis, name in zip(axes, ("SSIM", "PSNR (dB)"), strict=True):
        axis.set_xlabel("predicted frame")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
    axes[0].legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
