import pytest
import torch
import torch.nn.functional as F
from causality import assert_raster_causal

from genvid.nn.masked import MaskedConv2d, causal_mask, channel_groups


@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (3, 2), (7, 1), (5, 3)])
@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("groups", [1, 3])
def test_cropped_kernel_equals_full_masked_convolution(kernel_size, dilation, mask_type, groups):
    torch.manual_seed(0)
    conv = MaskedConv2d(6, 9, kernel_size, mask_type, color_groups=groups, dilation=dilation)
    conv = conv.double()
    x = torch.randn(2, 6, 11, 10, dtype=torch.float64)
    full = causal_mask(9, 6, kernel_size, mask_type, groups).double()
    reference = F.conv2d(
        x,
        conv.full_weight() * full,
        conv.bias,
        padding=dilation * (kernel_size // 2),
        dilation=dilation,
    )
    torch.testing.assert_close(conv(x), reference)
    torch.testing.assert_close(conv.full_weight(), conv.full_weight() * full)


def test_mask_centre_follows_colour_groups():
    a = causal_mask(3, 3, 3, "A", 3)[:, :, 1, 1]
    b = causal_mask(3, 3, 3, "B", 3)[:, :, 1, 1]
    # rows: output colour R, G, B; columns: input colour
    assert a.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert b.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert channel_groups(8, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


def _stack(mask_first: str, groups: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        MaskedConv2d(groups, 6, 3, mask_first, color_groups=groups),
        torch.nn.Tanh(),
        MaskedConv2d(6, 6, 3, "B", color_groups=groups, dilation=2),
        torch.nn.Tanh(),
        MaskedConv2d(6, 2 * groups, 1, "B", color_groups=groups),
    ).double()


@pytest.mark.parametrize("groups", [1, 3])
def test_stack_of_masked_convolutions_is_causal(groups):
    torch.manual_seed(1)
    net = _stack("A", groups)
    x = torch.randint(0, 2, (2, groups, 5, 5), dtype=torch.uint8)
    assert_raster_causal(lambda v: net(v.double()), x, per_value=2, max_value=1)


def test_causality_check_catches_mask_b_in_the_first_layer():
    torch.manual_seed(1)
    net = _stack("B", 3)  # the classic bug: the first layer sees its own value
    x = torch.randint(0, 2, (2, 3, 4, 4), dtype=torch.uint8)
    with pytest.raises(AssertionError, match="depends on later value"):
        assert_raster_causal(lambda v: net(v.double()), x, per_value=2, max_value=1)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2d(1, 1, 4, "B")
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, "C")


@pytest.mark.parametrize(("kernel", "dilation"), [(1, 1), (3, 2), ((1, 5), 1), (7, 1)])
def test_forward_at_equals_the_convolution_with_ints_and_tensor_indices(kernel, dilation):
    """The eager path slices, the compilable one gathers; both give the full convolution."""
    from genvid.nn.masked import read_at, write_at

    torch.manual_seed(0)
    conv = MaskedConv2d(6, 5, kernel, "B", color_groups=3, dilation=dilation).double()
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    margin = dilation * 3
    padded = torch.zeros(2, 5 + margin, 7 + 2 * margin, 6, dtype=torch.float64)
    with torch.no_grad():
        full = conv(x)
        for i in range(5):
            for j in range(7):
                write_at(padded, torch.tensor(i), torch.tensor(j), margin, x[:, :, i, j])
        assert torch.equal(padded[:, margin:, margin : margin + 7], x.permute(0, 2, 3, 1))
        for i in range(5):
            for j in range(7):
                sliced = conv.forward_at(padded, i, j, margin)
                gathered = conv.forward_at(padded, torch.tensor(i), torch.tensor(j), margin)
                torch.testing.assert_close(sliced, full[:, :, i, j], rtol=0, atol=1e-12)
                torch.testing.assert_close(gathered, sliced, rtol=0, atol=1e-12)
                maps = full.permute(0, 2, 3, 1)
                assert torch.equal(read_at(maps, torch.tensor(i), torch.tensor(j)), maps[:, i, j])


@pytest.mark.parametrize("kernel", [1, 3, 7])
def test_several_pixels_at_once_equal_the_convolution(kernel):
    """`[K]` index tensors (a wavefront sampler's step): K pixels written, read and convolved
    in one call each, rows batch-major (`[B * K, C]`), pixels in any order."""
    from genvid.nn.masked import read_at, write_at

    torch.manual_seed(0)
    conv = MaskedConv2d(6, 5, kernel, "B", color_groups=3).double()
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    margin = kernel // 2
    padded = torch.zeros(2, 5 + margin, 7 + 2 * margin, 6, dtype=torch.float64)
    order = torch.randperm(35)
    i, j = order // 7, order % 7
    pixels = x.permute(0, 2, 3, 1)[:, i, j]  # (2, K, 6)
    with torch.no_grad():
        write_at(padded, i, j, margin, pixels.flatten(0, 1))
        assert torch.equal(padded[:, margin:, margin : margin + 7], x.permute(0, 2, 3, 1))
        assert torch.equal(read_at(x.permute(0, 2, 3, 1), i, j), pixels.flatten(0, 1))
        out = conv.forward_at(padded, i, j, margin)
        expected = conv(x).permute(0, 2, 3, 1)[:, i, j].flatten(0, 1)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
