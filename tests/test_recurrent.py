import pytest
import torch
import torch.nn.functional as F
from causality import assert_raster_causal

from genvid.autoregressive.sampling import RasterCache
from genvid.nn.masked import MaskedConv2d, causal_mask
from genvid.nn.recurrent import (
    DiagonalBiLSTM,
    RecurrentBlock,
    RowLSTM,
    lstm_update,
    skew,
    unskew,
)


def _randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """float64, every parameter (initial states and biases too) drawn at random."""
    torch.manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.5)
    return module


@pytest.mark.parametrize("height,width", [(1, 1), (3, 5), (5, 3), (4, 4)])
def test_skew_shifts_row_r_right_by_r_and_unskew_undoes_it(height, width):
    x = torch.randn(2, 3, height, width)
    skewed = skew(x)
    assert skewed.shape == (2, 3, height, width + height - 1)
    for r in range(height):
        torch.testing.assert_close(skewed[:, :, r, r : r + width], x[:, :, r])
        assert (
            skewed[:, :, r, :r].abs().sum() == 0 and skewed[:, :, r, r + width :].abs().sum() == 0
        )
    assert torch.equal(unskew(skewed, width), x)


def test_rectangular_masked_kernel_equals_full_masked_convolution():
    torch.manual_seed(0)
    conv = MaskedConv2d(6, 8, (1, 3), "B", color_groups=3, out_blocks=4).double()
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    full = causal_mask(8, 6, (1, 3), "B", 3, out_blocks=4).double()
    assert full[:, :, 0, 2].abs().sum() == 0  # the pixel to the right is never seen
    reference = F.conv2d(x, conv.full_weight() * full, conv.bias, padding=(0, 1))
    torch.testing.assert_close(conv(x), reference)
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 0))  # channels last, margin 1
    torch.testing.assert_close(conv.forward_at(padded, 3, 4, 1), reference[:, :, 3, 4])


def test_out_blocks_group_each_block_like_the_hidden_state():
    per_block = causal_mask(5, 6, 1, "B", 3)
    assert torch.equal(causal_mask(20, 6, 1, "B", 3, out_blocks=4), per_block.repeat(4, 1, 1, 1))
    with pytest.raises(ValueError, match="out_blocks"):
        causal_mask(10, 6, 1, "B", 3, out_blocks=4)


def _row_lstm_loop(lstm: RowLSTM, x: torch.Tensor) -> torch.Tensor:
    """Pixel by pixel: (i, j) from the input-to-state maps and row i-1 at j-m..j+m."""
    gates_in = lstm.input_to_state(x)
    b, _, height, width = gates_in.shape
    k, m = lstm.kernel_size, lstm.kernel_size // 2
    weight, bias = lstm.state_to_state.weight, lstm.state_to_state.bias  # (4h, h, k)
    above = [lstm.initial_hidden.expand(b, -1)] * width
    above_cell = [lstm.initial_cell.expand(b, -1)] * width
    out = torch.zeros(b, lstm.hidden_channels, height, width, dtype=x.dtype)
    for i in range(height):
        row, row_cell = [], []
        for j in range(width):
            gates = gates_in[:, :, i, j] + bias
            for tap in range(k):
                if 0 <= j + tap - m < width:
                    gates = gates + above[j + tap - m] @ weight[:, :, tap].T
            hidden, cell = lstm_update(gates, above_cell[j])
            row.append(hidden)
            row_cell.append(cell)
            out[:, :, i, j] = hidden
        above, above_cell = row, row_cell
    return out


def _diagonal_lstm_loop(lstm: DiagonalBiLSTM, x: torch.Tensor) -> torch.Tensor:
    """Pixel by pixel, each direction on its own: (i, j) from the pixel above and to the left
    (mirrored for the right-to-left direction, whose output is then shifted down a row)."""
    gates_in = lstm.input_to_state(x)
    b, _, height, width = gates_in.shape
    h = lstm.hidden_channels
    weight, bias = lstm.state_to_state.weight, lstm.state_to_state.bias  # (8h, h, 2)
    outputs = []
    for d in range(2):
        maps = gates_in[:, 4 * h * d : 4 * h * (d + 1)]
        maps = maps.flip(3) if d else maps
        w, bd = weight[4 * h * d : 4 * h * (d + 1)], bias[4 * h * d : 4 * h * (d + 1)]
        h0, c0 = (
            p[h * d : h * (d + 1)].expand(b, -1) for p in (lstm.initial_hidden, lstm.initial_cell)
        )
        hid, cel = {}, {}
        out = torch.zeros(b, h, height, width, dtype=x.dtype)
        for i in range(height):
            for j in range(width):
                above = hid.get((i - 1, j), h0)
                left, left_cell = hid.get((i, j - 1), h0), cel.get((i, j - 1), c0)
                gates = maps[:, :, i, j] + above @ w[:, :, 0].T + left @ w[:, :, 1].T + bd
                hid[i, j], cel[i, j] = lstm_update(gates, left_cell)
                out[:, :, i, j] = hid[i, j]
        outputs.append(out.flip(3) if d else out)
    left, right = outputs
    shifted = torch.zeros_like(right)
    shifted[:, :, 1:] = right[:, :, :-1]
    return left + shifted


@pytest.mark.parametrize("height,width", [(4, 6), (6, 3), (1, 4), (5, 1)])
@pytest.mark.parametrize("groups", [1, 3])
def test_vectorised_layers_equal_a_pixel_by_pixel_loop(height, width, groups):
    x = torch.randn(2, 6, height, width, dtype=torch.float64)
    row = _randomise(RowLSTM(6, 3, 3, color_groups=groups))
    diagonal = _randomise(DiagonalBiLSTM(6, 3, color_groups=groups))
    with torch.no_grad():
        torch.testing.assert_close(row(x), _row_lstm_loop(row, x))
        torch.testing.assert_close(diagonal(x), _diagonal_lstm_loop(diagonal, x))
    five = _randomise(RowLSTM(6, 2, 5))
    with torch.no_grad():
        torch.testing.assert_close(five(x), _row_lstm_loop(five, x))


@pytest.mark.parametrize("kind", ["row", "diagonal"])
def test_steppers_equal_the_whole_image_layer(kind):
    """One pixel at a time in raster order (each pixel computed twice, as sampling does)."""
    block = _randomise(RecurrentBlock(kind, 3, color_groups=3))
    lstm = block.lstm
    x = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    extra = torch.randn(2, lstm.gate_channels, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        whole = lstm(x, extra)
        cache = RasterCache(2, (4, 5), 1, 1, lambda v: v, like=x)  # margin: the Row LSTM's 3 // 2
        stepper = lstm.stepper(cache, extra)
        for i in range(4):
            for j in range(5):
                stepper.step(i, j, torch.zeros_like(x[:, :, i, j]))
                torch.testing.assert_close(stepper.step(i, j, x[:, :, i, j]), whole[:, :, i, j])


def _stack(kind: str, groups: int, residual: bool = True) -> torch.nn.ModuleList:
    """Mask-A 7x7 input layer and two recurrent blocks: 2h = 6 maps, 2 per colour."""
    first = MaskedConv2d(groups, 6, 7, "A", color_groups=groups)
    blocks = [RecurrentBlock(kind, 3, color_groups=groups, residual=residual) for _ in range(2)]
    return _randomise(torch.nn.ModuleList([first, *blocks]), seed=1)


def _run(net: torch.nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """The stack's last block's residual stream and skip sum, channels interleaved so that
    the 12 maps stay grouped colour-major (channel 2c, 2c + 1 from map c)."""
    hidden, skip = net[0](x.double()), None
    for block in net[1:]:
        hidden, skip = block(hidden, skip)
    return torch.stack([hidden, skip], dim=2).flatten(1, 2)  # (B, 6, 2, H, W) -> (B, 12, H, W)


@pytest.mark.parametrize("kind", ["row", "diagonal"])
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("residual", [True, False])
def test_layers_are_causal_at_every_position_and_colour(kind, groups, residual):
    net = _stack(kind, groups, residual)
    x = torch.randint(0, 2, (2, groups, 4, 4), dtype=torch.uint8)
    with torch.no_grad():
        assert_raster_causal(lambda v: _run(net, v), x, per_value=12 // groups, max_value=1)


def test_right_to_left_direction_alone_is_causal_and_needs_its_shift():
    net = _stack("diagonal", 3)
    for block in net[1:]:  # silence the left-to-right direction's input
        block.lstm.input_to_state.weight.data[: 4 * 3] = 0
    x = torch.randint(0, 2, (2, 3, 4, 4), dtype=torch.uint8)
    with torch.no_grad():
        assert_raster_causal(lambda v: _run(net, v), x, per_value=4, max_value=1)
        lstm = net[1].lstm

        def unshifted(v):
            """The right-to-left direction without its one-row shift down."""
            gates = lstm.input_to_state(net[0](v.double()))
            both = torch.cat([gates[:, :12], gates[:, 12:].flip(3)], 1)
            return lstm.recur(both)[:, 3:].flip(3)

        with pytest.raises(AssertionError, match="depends on later value"):
            assert_raster_causal(unshifted, x, per_value=1, max_value=1)
