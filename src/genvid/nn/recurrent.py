"""Recurrent layers of the PixelRNN family: Row LSTM and Diagonal BiLSTM (skew / unskew).

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", 2016,
arXiv 1601.06759: section 3.1 (Row LSTM), 3.2 (Diagonal BiLSTM), 3.3 (residual connections),
3.4 (masks for the colour channels).

Both layers compute the LSTM of equation (3), gates laid out `[o, f, i, g]`:

    [o, f, i, g] = [sigmoid, sigmoid, sigmoid, tanh](K_ss * h_prev + K_is * x)
    c = f * c_prev + i * g,   h = o * tanh(c)

- Row LSTM: one step per image row for the whole batch and the whole row at once. K_is is a
  masked k x 1 convolution along the row (taps at the pixel and to its left; mask B at the
  pixel), K_ss an unmasked k x 1 convolution over the previous row's hidden state. The
  receptive field is a triangle above the pixel.
- Diagonal BiLSTM: the input-to-state maps (1x1, mask B) are skewed so that each column of
  the skewed map is one diagonal of the image; one step per diagonal, K_ss a 2x1 convolution
  down the previous column (taps: the pixel above, the pixel to the left). The second
  direction runs on the mirrored image, and its output is shifted down one row before it is
  added, so that no pixel sees the future.

Colour groups (section 3.4): each gate is grouped like the hidden state (`out_blocks` of
`MaskedConv2d`), the LSTM is element-wise, and K_ss reads only pixels of earlier rows or
earlier columns, so colour group g of the output sees colours <= g of its own pixel.

Deviations: the learned initial state (h0, c0) is one vector per layer and direction,
broadcast along the row (Row LSTM) or used for every neighbour outside the image (Diagonal
BiLSTM: above row 0 and left of column 0); the paper does not say how it is shaped. The
right-to-left output's top row (which has no row above to come from) is zero. Both directions
of the Diagonal BiLSTM run in one recurrence (block-diagonal K_ss matrices), for speed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.nn.masked import MaskedConv2d

if TYPE_CHECKING:
    from genvid.autoregressive.sampling import RasterCache

GATES = 4  # o, f, i, g
LayerKind = Literal["row", "diagonal"]


def skew(x: Tensor) -> Tensor:
    """Shift row r of every map right by r. Shape: `[B, C, H, W] -> [B, C, H, W + H - 1]`.

    Column c of the result holds the diagonal `{(r, c - r)}` of the input; zeros elsewhere.
    """
    b, c, height, width = x.shape
    # Rows laid out with stride W + H and read back with stride W + H - 1: row r moves r right.
    flat = F.pad(x, (0, height)).flatten(2)[:, :, : height * (width + height - 1)]
    return flat.reshape(b, c, height, width + height - 1)


def unskew(x: Tensor, width: int) -> Tensor:
    """Undo `skew`. Shape: `[B, C, H, W + H - 1] -> [B, C, H, W]`."""
    b, c, height, skewed = x.shape
    if skewed != width + height - 1:
        raise ValueError(f"a skewed map of height {height}, width {width} has {skewed} columns")
    flat = F.pad(x.flatten(2), (0, height))  # (B, C, H * (W + H - 1) + H)
    return flat.reshape(b, c, height, skewed + 1)[:, :, :, :width]


def lstm_update(gates: Tensor, cell: Tensor, directions: int = 1) -> tuple[Tensor, Tensor]:
    """One LSTM update, element-wise.

    Shape: gates `[B, D*4*h, *]` (each direction laid out `[o, f, i, g]`), cell `[B, D*h, *]`
    -> hidden and cell `[B, D*h, *]`.
    """
    b, width = cell.shape[:2]
    split = gates.reshape(b, directions, GATES, width // directions, *gates.shape[2:])
    o, f, i, g = (t.reshape(cell.shape) for t in split.unbind(2))
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


class RowLSTM(nn.Module):
    """Row LSTM (section 3.1): masked k x 1 input-to-state, k x 1 state-to-state, row by row.

    Args:
        in_channels: input maps.
        hidden_channels: h, the hidden and cell state maps.
        kernel_size: odd k of both convolutions along the row.
        color_groups: colour groups G of the masked input-to-state convolution.

    Shape: `[B, in, H, W] -> [B, h, H, W]`; `extra`, if given, `[B, 4h, H, W]` is added to the
    input-to-state maps (a conditioning input).
    """

    directions = 1

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int = 3, *, color_groups: int = 1
    ) -> None:
        super().__init__()
        h = hidden_channels
        self.hidden_channels, self.kernel_size = h, kernel_size
        self.gate_channels = GATES * h
        self.input_to_state = MaskedConv2d(
            in_channels, GATES * h, (1, kernel_size), "B", color_groups=color_groups, out_blocks=4
        )
        self.state_to_state = nn.Conv1d(h, GATES * h, kernel_size, padding=kernel_size // 2)
        self.initial_hidden = nn.Parameter(torch.zeros(h))
        self.initial_cell = nn.Parameter(torch.zeros(h))

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        gates_in = self.input_to_state(x)  # (B, 4h, H, W)
        if extra is not None:
            gates_in = gates_in + extra
        b, _, _, width = gates_in.shape
        hidden = self.initial_hidden[None, :, None].expand(b, -1, width)  # (B, h, W)
        cell = self.initial_cell[None, :, None].expand(b, -1, width)
        rows = []
        for row in gates_in.unbind(2):  # (B, 4h, W) each
            hidden, cell = lstm_update(row + self.state_to_state(hidden), cell)
            rows.append(hidden)
        return torch.stack(rows, dim=2)  # (B, h, H, W)

    def stepper(self, cache: RasterCache, extra: Tensor | None = None) -> RowLSTMStepper:
        """The layer one pixel at a time, for cached sampling (see `RowLSTMStepper`)."""
        return RowLSTMStepper(self, cache, extra)


class DiagonalBiLSTM(nn.Module):
    """Diagonal BiLSTM (section 3.2): skew, 1x1 mask-B input-to-state, 2x1 state-to-state.

    Args:
        in_channels: input maps.
        hidden_channels: h per direction.
        color_groups: colour groups G of the masked input-to-state convolution.

    Shape: `[B, in, H, W] -> [B, h, H, W]` (the two directions added); `extra`, if given,
    `[B, 8h, H, W]` (left-to-right gates, then right-to-left gates, both in image
    coordinates) is added to the input-to-state maps.

    Receptive field: the left-to-right state at (i, j) reads (i - 1, j) and (i, j - 1), so it
    sees the input at every (r, c) with r <= i, c <= j; the right-to-left one, shifted down a
    row, every (r, c) with r < i, c >= j. Together, as for any stack of these layers: every
    input pixel before (i, j) in raster order, and (i, j). In a PixelRNN the input is a k x k
    mask-A layer (m = k // 2), whose map at (r, c) sees the image at rows r - m .. r - 1,
    columns c - m .. c + m, and at row r, columns c - m .. c - 1. The last pixel of the row
    above, (i - 1, W - 1), is left of no map of its own row, so only the maps of row i at
    columns >= W - 1 - m see it: from (i, j) with j < W - 1 - m it is never seen (for RGB,
    only its last colour, which mask A hides from its own pixel). Every other earlier pixel
    is seen. This follows from the paper's design (section 3.2, 7x7 first layer); it is no
    leak and no deviation.
    """

    directions = 2

    def __init__(self, in_channels: int, hidden_channels: int, *, color_groups: int = 1) -> None:
        super().__init__()
        h = hidden_channels
        self.hidden_channels = h
        self.gate_channels = 2 * GATES * h
        self.input_to_state = MaskedConv2d(
            in_channels, 2 * GATES * h, 1, "B", color_groups=color_groups, out_blocks=8
        )
        # Column-wise 2x1 per direction; tap 0 reads the pixel above, tap 1 the pixel to the left.
        self.state_to_state = nn.Conv1d(2 * h, 2 * GATES * h, 2, groups=2)
        self.initial_hidden = nn.Parameter(torch.zeros(2 * h))  # (left h, right h)
        self.initial_cell = nn.Parameter(torch.zeros(2 * h))

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        gates_in = self.input_to_state(x)  # (B, 8h, H, W)
        if extra is not None:
            gates_in = gates_in + extra
        half, h = GATES * self.hidden_channels, self.hidden_channels
        # The right-to-left direction is the left-to-right one on the mirrored image.
        gates_in = torch.cat([gates_in[:, :half], gates_in[:, half:].flip(3)], dim=1)
        both = self.recur(gates_in)  # (B, 2h, H, W)
        left, right = both[:, :h], both[:, h:].flip(3)
        return left + F.pad(right, (0, 0, 1, 0))[:, :, :-1]  # right shifted down one row

    def recur(self, gates_in: Tensor) -> Tensor:
        """Both directions' diagonal recurrences, one step per diagonal for the whole batch.

        Shape: `[B, 8h, H, W]` input-to-state maps -> hidden states `[B, 2h, H, W]`.
        """
        b, _, height, width = gates_in.shape
        h, quarter = self.hidden_channels, GATES * self.hidden_channels
        # Diagonal d holds pixels (r, d - r), lo <= r < hi (column d of the skewed map). A state is
        # a matrix, one row per pixel and batch item, the diagonal's pixels top to bottom: a step
        # is two small matmuls, and no step copies a full-height state.
        spans = [(max(0, d - width + 1), min(height, d + 1)) for d in range(width + height - 1)]
        order = [r * width + d - r for d, (lo, hi) in enumerate(spans) for r in range(lo, hi)]
        order = torch.tensor(order, device=gates_in.device)  # raster index, diagonal by diagonal
        # K_ss of both directions as block-diagonal (2h, 8h) matrices, one per tap.
        weight = self.state_to_state.weight  # (8h, h, 2)
        above, left = (torch.block_diag(*weight[:, :, t].T.split(quarter, 1)) for t in (0, 1))
        pixels = gates_in.flatten(2).permute(2, 0, 1).reshape(height * width, -1)  # (H*W, B*8h)
        gates_in = pixels.index_select(0, order).view(-1, 2 * quarter) + self.state_to_state.bias
        steps = gates_in.split([(hi - lo) * b for lo, hi in spans])  # (pixels * B, 8h) each
        h0, c0 = self.initial_hidden.expand(b, -1), self.initial_cell.expand(b, -1)  # (B, 2h)
        hidden, cell = h0[:0], c0[:0]  # rows last_lo .. last_hi - 1 of the last diagonal
        last_lo = last_hi = 0
        diagonals = []
        for (lo, hi), gates in zip(spans, steps, strict=True):
            # Rows lo - 1 .. hi - 1 of the last diagonal, with h0 above row 0 and on the left of
            # the row that starts now (hi > last_hi). Rows above lo are finished: never read again.
            previous = [h0] * (lo == 0) + [hidden] + [h0] * (hi > last_hi)
            previous = torch.cat(previous) if len(previous) > 1 else hidden
            cell = cell[b:] if lo > last_lo else cell
            cell = torch.cat([cell, c0]) if hi > last_hi else cell
            gates = torch.addmm(torch.addmm(gates, previous[:-b], above), previous[b:], left)
            # As (rows * 2, 4h), each row is one direction's LSTM of width h.
            hidden, cell = lstm_update(gates.view(-1, quarter), cell.view(-1, h))
            hidden, cell = hidden.view(-1, 2 * h), cell.view(-1, 2 * h)
            diagonals.append(hidden)
            last_lo, last_hi = lo, hi
        states = torch.cat(diagonals).view(height * width, -1).index_select(0, order.argsort())
        return states.view(height, width, b, 2 * h).permute(2, 3, 0, 1).contiguous()

    def stepper(self, cache: RasterCache, extra: Tensor | None = None) -> DiagonalBiLSTMStepper:
        """The layer one pixel at a time, for cached sampling (see `DiagonalBiLSTMStepper`)."""
        return DiagonalBiLSTMStepper(self, cache, extra)


class RowLSTMStepper:
    """A Row LSTM computed one pixel at a time, keeping the previous row's state.

    `step(i, j, x)` must visit pixels in raster order, every pixel once its input is final;
    repeating the latest pixel (a new colour of it was drawn) recomputes it. Equals
    `RowLSTM.forward` at that pixel. Its inputs live in a buffer of the sampler's `cache`.
    """

    def __init__(self, lstm: RowLSTM, cache: RasterCache, extra: Tensor | None) -> None:
        n, width, m = cache.n, cache.width, lstm.kernel_size // 2
        if cache.margin < m:
            raise ValueError(f"the cache's margin {cache.margin} is below the kernel's reach {m}")
        self.lstm, self.cache, self.extra, self.row = lstm, cache, extra, 0
        self.inputs = cache.buffer(lstm.input_to_state.weight.shape[1])
        self.above_hidden = F.pad(lstm.initial_hidden[None, :, None].expand(n, -1, width), (m, m))
        self.above_cell = lstm.initial_cell[None, :, None].expand(n, -1, width)
        self.hidden = torch.zeros_like(self.above_hidden)  # (n, h, W + 2m), zero margins
        self.cell = torch.zeros_like(self.above_cell)  # (n, h, W)
        self.weight = lstm.state_to_state.weight.flatten(1)  # (4h, h * k)

    @torch.no_grad()
    def step(self, i: int, j: int, x: Tensor) -> Tensor:
        """The hidden state at (i, j). Shape: input `[n, in]` -> `[n, h]`."""
        if i != self.row:
            assert i == self.row + 1, "pixels must come in raster order"
            self.above_hidden, self.above_cell = self.hidden, self.cell
            self.hidden, self.cell = torch.zeros_like(self.hidden), torch.zeros_like(self.cell)
            self.row = i
        m, margin = self.lstm.kernel_size // 2, self.cache.margin
        self.inputs[:, i + margin, j + margin] = x
        gates = self.lstm.input_to_state.forward_at(self.inputs, i, j, margin)
        above = self.above_hidden[:, :, j : j + 2 * m + 1].flatten(1)  # (n, h * k)
        gates = gates + above @ self.weight.T + self.lstm.state_to_state.bias
        if self.extra is not None:
            gates = gates + self.extra[:, :, i, j]
        hidden, cell = lstm_update(gates, self.above_cell[:, :, j])
        self.hidden[:, :, j + m], self.cell[:, :, j] = hidden, cell
        return hidden


class DiagonalBiLSTMStepper:
    """A Diagonal BiLSTM computed one pixel at a time (same rules as `RowLSTMStepper`).

    The left-to-right direction steps along the row from its left neighbour and the finished
    row above. When a row is finished, the right-to-left direction scans it from the right;
    that scan is the shifted-down share of the next row.
    """

    def __init__(self, lstm: DiagonalBiLSTM, cache: RasterCache, extra: Tensor | None) -> None:
        n, width = cache.n, cache.width
        h, quarter = lstm.hidden_channels, GATES * lstm.hidden_channels
        self.lstm, self.extra, self.row, self.h = lstm, extra, 0, h
        weight, bias = lstm.state_to_state.weight, lstm.state_to_state.bias  # (8h, h, 2), (8h)
        self.left_weights = (weight[:quarter, :, 0].T, weight[:quarter, :, 1].T, bias[:quarter])
        self.right_weights = (weight[quarter:, :, 0].T, weight[quarter:, :, 1].T, bias[quarter:])
        h0, c0 = lstm.initial_hidden, lstm.initial_cell
        self.initial = (h0[:h].expand(n, h), c0[:h].expand(n, h), h0[h:], c0[h:])
        self.above = h0[:h, None].expand(n, h, width)  # left-to-right states of row i - 1
        self.hidden = h0.new_zeros(n, h, width)
        self.cell = h0.new_zeros(n, h, width)
        self.right_above = h0[h:, None].expand(n, h, width)  # right-to-left, row i - 2
        self.right_shifted = h0.new_zeros(n, h, width)  # right-to-left states of row i - 1
        in_channels = lstm.input_to_state.weight.shape[1]
        self.inputs = h0.new_zeros(n, width, in_channels)  # this row's inputs

    @torch.no_grad()
    def step(self, i: int, j: int, x: Tensor) -> Tensor:
        """The layer's output (both directions) at (i, j). Shape: `[n, in]` -> `[n, h]`."""
        if i != self.row:
            assert i == self.row + 1, "pixels must come in raster order"
            self._finish_row()
        quarter = GATES * self.h
        self.inputs[:, j] = x
        gates = self.lstm.input_to_state.forward_pixel(x)[:, :quarter]
        if self.extra is not None:
            gates = gates + self.extra[:, :quarter, i, j]
        above_weight, left_weight, bias = self.left_weights
        h0, c0 = self.initial[:2]
        left, left_cell = (self.hidden[:, :, j - 1], self.cell[:, :, j - 1]) if j else (h0, c0)
        gates = gates + self.above[:, :, j] @ above_weight + left @ left_weight + bias
        hidden, cell = lstm_update(gates, left_cell)
        self.hidden[:, :, j], self.cell[:, :, j] = hidden, cell
        return hidden + self.right_shifted[:, :, j]

    def _finish_row(self) -> None:
        n, width = self.inputs.shape[:2]
        quarter = GATES * self.h
        gates_in = self.lstm.input_to_state.forward_pixel(self.inputs.flatten(0, 1))
        gates_in = gates_in[:, quarter:].unflatten(0, (n, width))  # (n, W, 4h)
        if self.extra is not None:
            gates_in = gates_in + self.extra[:, quarter:, self.row].transpose(1, 2)
        above_weight, left_weight, bias = self.right_weights
        hidden = self.initial[2].expand(n, self.h)
        cell = self.initial[3].expand(n, self.h)
        out = torch.zeros_like(self.hidden)
        for j in reversed(range(width)):  # "left" on the mirrored image is the right here
            gates = gates_in[:, j] + self.right_above[:, :, j] @ above_weight
            hidden, cell = lstm_update(gates + hidden @ left_weight + bias, cell)
            out[:, :, j] = hidden
        self.right_above = self.right_shifted = out
        self.above = self.hidden
        self.hidden, self.cell = torch.zeros_like(self.hidden), torch.zeros_like(self.cell)
        self.row += 1


class RecurrentBlock(nn.Module):
    """One PixelRNN layer with its residual and skip connections (section 3.3, figure 4).

    The LSTM maps the 2h input maps to h per gate; its h-map output goes through a 1x1 mask-B
    convolution back to 2h: the layer's output. The block owns both adds: the next layer reads
    input + output (output alone without `residual`), and the skip path, which the output
    layers read, gains the output alone, so it sums separate paths from every layer rather
    than the residual stream.

    Args:
        kind: "row" (Row LSTM) or "diagonal" (Diagonal BiLSTM).
        hidden_channels: h.
        kernel_size: the Row LSTM's k (unused by the Diagonal BiLSTM).
        color_groups: colour groups G.
        residual: add the input to the output.

    Shape: `x`, `skip` (None before the first layer) `[B, 2h, H, W]` -> the next layer's input
    and the skip sum, both `[B, 2h, H, W]`; `extra` as for the LSTM (`lstm.gate_channels`).
    """

    def __init__(
        self,
        kind: LayerKind,
        hidden_channels: int,
        *,
        kernel_size: int = 3,
        color_groups: int = 1,
        residual: bool = True,
    ) -> None:
        super().__init__()
        h = hidden_channels
        if kind == "row":
            self.lstm = RowLSTM(2 * h, h, kernel_size, color_groups=color_groups)
        elif kind == "diagonal":
            self.lstm = DiagonalBiLSTM(2 * h, h, color_groups=color_groups)
        else:
            raise ValueError(f"layer kind must be 'row' or 'diagonal', got {kind!r}")
        self.output = MaskedConv2d(h, 2 * h, 1, "B", color_groups=color_groups)
        self.residual = residual

    def forward(
        self, x: Tensor, skip: Tensor | None = None, extra: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        return self._connect(x, skip, self.output(self.lstm(x, extra)))

    def forward_at(
        self,
        x: Tensor,
        skip: Tensor | None,
        stepper: RowLSTMStepper | DiagonalBiLSTMStepper,
        i: int,
        j: int,
    ) -> tuple[Tensor, Tensor]:
        """The block at pixel (i, j) alone (cached sampling), `stepper` from `lstm.stepper`.

        Shape: `x`, `skip` `[B, 2h]` -> `[B, 2h]`, `[B, 2h]`.
        """
        return self._connect(x, skip, self.output.forward_pixel(stepper.step(i, j, x)))

    def _connect(self, x: Tensor, skip: Tensor | None, out: Tensor) -> tuple[Tensor, Tensor]:
        """The residual and skip adds, in one place for both paths."""
        residual = x + out if self.residual else out
        return residual, (out if skip is None else skip + out)
