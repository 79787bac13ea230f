import pytest
import torch
import torch.nn.functional as F
from causality import assert_raster_causal

from genvid.nn.convlstm import ConvLSTMCell
from genvid.nn.masked import MaskedConv2d, causal_mask
from genvid.nn.multiplicative import (
    MultiplicativeUnit,
    ReLUUnit,
    ResidualMultiplicativeBlock,
)


def _weight(conv):
    """The k x k kernel a convolution applies, from the reference's point of view."""
    return conv.full_weight() if isinstance(conv, MaskedConv2d) else conv.weight


def _conv(conv, h, dilation):
    """A same-size convolution written out with F.conv2d and symmetric padding."""
    weight = _weight(conv)
    pad = dilation * (weight.shape[-1] // 2)
    return F.conv2d(h, weight, conv.bias, padding=pad, dilation=dilation)


def reference_mu(unit, h, dilation):
    """MU(h) = g1 * tanh(g2 * h + g3 * u) with four separate gate convolutions."""
    c = h.shape[1]
    weight, bias = _weight(unit.conv), unit.conv.bias
    pad = dilation * (weight.shape[-1] // 2)
    pre = [
        F.conv2d(h, weight[n * c : (n + 1) * c], bias[n * c : (n + 1) * c], padding=pad,
                 dilation=dilation)
        for n in range(4)
    ]  # fmt: skip
    g1, g2, g3 = (torch.sigmoid(p) for p in pre[:3])
    u = torch.tanh(pre[3])
    return g1 * torch.tanh(g2 * h + g3 * u)


def reference_rmb(block, x, dilation, unit):
    h = _conv(block.reduce, x, 1)
    for layer in block.units:
        if unit == "mu":
            h = reference_mu(layer, h, dilation)
        else:
            h = torch.relu(_conv(layer.conv, h, dilation))
    return x + _conv(block.expand, h, 1)


@pytest.mark.parametrize("masked,groups,dilation", [(False, 1, 1), (False, 1, 2), (True, 3, 1)])
def test_multiplicative_unit_matches_the_written_out_formula(masked, groups, dilation):
    torch.manual_seed(0)
    unit = MultiplicativeUnit(4, 3, masked=masked, color_groups=groups, dilation=dilation)
    unit = unit.double()
    h = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    torch.testing.assert_close(unit(h), reference_mu(unit, h, dilation))


def test_masked_unit_gates_follow_their_channels_colour_group():
    """c = 4, G = 3: gate j of each of g1, g2, g3, u is masked like channel j of h."""
    unit = MultiplicativeUnit(4, 3, masked=True, color_groups=3)
    one = causal_mask(4, 4, 3, "B", 3)[:, :, :2]
    assert torch.equal(unit.conv.mask, one.repeat(4, 1, 1, 1))


@pytest.mark.parametrize(
    "masked,groups,dilation,unit",
    [(False, 1, 1, "mu"), (False, 1, 4, "mu"), (True, 3, 1, "mu"), (True, 1, 1, "relu")],
)
def test_residual_multiplicative_block_matches_the_written_out_block(
    masked, groups, dilation, unit
):
    torch.manual_seed(0)
    block = ResidualMultiplicativeBlock(
        5, 3, masked=masked, color_groups=groups, dilation=dilation, unit=unit
    ).double()
    x = torch.randn(2, 10, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(block(x), reference_rmb(block, x, dilation, unit))


@pytest.mark.parametrize("channels,unit", [(1, "mu"), (3, "mu"), (3, "relu")])
def test_masked_blocks_are_raster_causal_across_colours(channels, unit):
    """c = 4 maps (not a multiple of 3) through mask A, two masked RMBs and a 1x1 output.

    Fails if the MU's stacked gates take the colour groups of a plain 4c-output convolution.
    """
    torch.manual_seed(0)
    layers = torch.nn.Sequential(
        MaskedConv2d(channels, 8, 3, "A", color_groups=channels),
        ResidualMultiplicativeBlock(4, masked=True, color_groups=channels, unit=unit),
        ResidualMultiplicativeBlock(4, masked=True, color_groups=channels, unit=unit),
        MaskedConv2d(8, channels, 1, "B", color_groups=channels),
    ).double()
    x = torch.randint(0, 2, (2, channels, 3, 3), dtype=torch.uint8)
    assert_raster_causal(lambda v: layers(v.double()), x, per_value=1, max_value=1)


@pytest.mark.parametrize("unit", ["mu", "relu"])
def test_block_forward_at_equals_forward_pixel_by_pixel(unit):
    torch.manual_seed(0)
    block = ResidualMultiplicativeBlock(4, masked=True, color_groups=3, unit=unit).double()
    x = torch.randn(2, 8, 4, 5, dtype=torch.float64)
    margin = 1
    caches = [torch.zeros(2, 4 + margin, 5 + 2 * margin, 4, dtype=torch.float64) for _ in "ab"]
    out = torch.stack(
        [
            torch.stack([block.forward_at(x[:, :, i, j], caches, i, j, margin) for j in range(5)])
            for i in range(4)
        ]
    )  # (H, W, B, 2c)
    torch.testing.assert_close(out.permute(2, 3, 0, 1), block(x))


def test_relu_unit_is_the_ablation_of_the_mu():
    unit = ReLUUnit(3)
    h = torch.randn(1, 3, 4, 4)
    assert torch.equal(unit(h), torch.relu(unit.conv(h)))
    with pytest.raises(ValueError, match="unit must be 'mu' or 'relu'"):
        ResidualMultiplicativeBlock(3, unit="gelu")


def test_conv_lstm_step_matches_the_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 4).double()
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    h, c = (torch.randn(2, 4, 5, 6, dtype=torch.float64) for _ in "hc")
    w = torch.cat([cell.input_conv.weight, cell.state_conv.weight], dim=1)  # one conv of [x, h]
    gates = F.conv2d(torch.cat([x, h], 1), w, cell.input_conv.bias, padding=1)
    i, f, o, g = gates.chunk(4, 1)
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_ref = torch.sigmoid(o) * torch.tanh(c_ref)
    new_h, new_c = cell(x, (h, c))
    torch.testing.assert_close(new_c, c_ref)
    torch.testing.assert_close(new_h, h_ref)
    zero_h, zero_c = cell.initial_state(x)
    assert zero_h.shape == (2, 4, 5, 6) and not zero_h.any() and not zero_c.any()
