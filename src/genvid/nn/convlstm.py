"""Convolutional LSTM cell (Shi et al. 2015, arXiv 1506.04214, equations 3).

    i, f, o = sigmoid(W_x * x + W_h * h + b),  g = tanh(W_x * x + W_h * h + b)
    c' = f * c + i * g,  h' = o * tanh(c')

Every map keeps the input's resolution (same-padded convolutions), as the Video Pixel
Network's temporal model requires (Kalchbrenner et al. 2017, arXiv 1610.00527, section 4).
The input-to-state convolution is separate from the state-to-state one so that a model can
compute it for all time steps in one batched call (`input_gates`) and run only the
state-to-state convolution sequentially (`step`).

Deviations: no peephole connections (Shi et al. have them on c); the forget gate's bias
starts at 1, a common aid to learning long dependencies.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = tuple[Tensor, Tensor]  # (h, c), each [B, hidden_channels, H, W]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step.

    Args:
        in_channels: maps of the input x.
        hidden_channels: maps of the hidden state h and the cell c.
        kernel_size: odd k of both convolutions.

    Shape: x `[B, in, H, W]`, state `([B, hidden, H, W],) * 2` -> new state, same shapes.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.hidden_channels = hidden_channels
        pad = kernel_size // 2
        self.input_conv = nn.Conv2d(in_channels, 4 * hidden_channels, kernel_size, padding=pad)
        self.state_conv = nn.Conv2d(
            hidden_channels, 4 * hidden_channels, kernel_size, padding=pad, bias=False
        )
        with torch.no_grad():  # gate order i, f, o, g: the forget bias starts at 1
            self.input_conv.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)

    def initial_state(self, like: Tensor) -> State:
        """All-zero (h, c) matching `like`'s batch, size, dtype and device (`[B, *, H, W]`)."""
        b, _, height, width = like.shape
        zeros = like.new_zeros(b, self.hidden_channels, height, width)
        return zeros, zeros

    def input_gates(self, x: Tensor) -> Tensor:
        """The input's contribution to the gates, for any number of steps at once.

        Shape: `[N, in, H, W] -> [N, 4 hidden, H, W]`.
        """
        return self.input_conv(x)

    def step(self, gates_x: Tensor, state: State) -> State:
        """Advance one step given `input_gates(x)` of this step."""
        h, c = state
        i, f, o, g = (gates_x + self.state_conv(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x: Tensor, state: State | None = None) -> State:
        if state is None:
            state = self.initial_state(x)
        return self.step(self.input_gates(x), state)
