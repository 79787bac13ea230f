"""Pictures of samples: image grids (PNG) and, later, GIFs and plots."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor


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
