"""Exact raster-order causality check shared by every autoregressive image model's tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def assert_raster_causal(
    params_fn: Callable[[Tensor], Tensor], x: Tensor, per_value: int, max_value: int
) -> None:
    """Changing value d never changes the predicted distribution of any value <= d.

    `params_fn` maps uint8 `[B, C, H, W]` to parameters `[B, P*C, H, W]` (colour-major),
    computed in float64. Every value (row, column, colour) of `x` is changed in turn.
    Also asserts the model is not trivially causal: some later distribution does change.
    """
    _, channels, height, width = x.shape
    base = params_fn(x).reshape(x.shape[0], channels, per_value, height, width)
    order = [(i, j, c) for i in range(height) for j in range(width) for c in range(channels)]
    some_later_changed = False
    for d, (i, j, c) in enumerate(order):
        changed = x.clone()
        changed[:, c, i, j] = (changed[:, c, i, j].long() + 1 + max_value // 2) % (max_value + 1)
        new = params_fn(changed).reshape(base.shape)
        for e, (i2, j2, c2) in enumerate(order):
            same = torch.allclose(new[:, c2, :, i2, j2], base[:, c2, :, i2, j2], atol=1e-10, rtol=0)
            if e <= d and not same:
                raise AssertionError(
                    f"value (row {i2}, col {j2}, colour {c2}) depends on later value "
                    f"(row {i}, col {j}, colour {c})"
                )
            some_later_changed |= e > d and not same
    if not some_later_changed:
        raise AssertionError("no prediction depends on any earlier value: the check is vacuous")
