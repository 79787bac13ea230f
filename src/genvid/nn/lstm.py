"""Fully connected LSTMs stepped one time step at a time: SVG's predictor, posterior and prior.

Denton & Fergus 2018 (arXiv 1802.07687, section 3 and their code's models/lstm.py): each network
is a linear embedding, a stack of LSTM layers and a fully connected output. The frame
predictor's output is a vector (`DeterministicLSTM`); the posterior's and the learned prior's
are the mean and log-variance of a diagonal Gaussian (`GaussianLSTM`), sampled with the
reparameterisation trick (Kingma & Welling 2014, arXiv 1312.6114; `reparameterize`).

The state goes in and comes out of every step; nothing is stored on the module, so one module
serves any batch size and a caller can restart, branch or replay a sequence.

Deviations: none in what is computed. The paper's code keeps the hidden state on the module
for a fixed batch size and samples inside the posterior and prior; here sampling is a separate
function with an explicit `torch.Generator`, so a seeded generator reproduces a draw.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LSTMState = tuple[tuple[Tensor, Tensor], ...]  # (h, c) of each layer, each [B, hidden_size]


class _EmbeddedLSTM(nn.Module):
    """A linear embedding, then `num_layers` stacked `nn.LSTMCell`s: what both networks share."""

    def __init__(self, in_features: int, *, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):  # fmt: skip
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.hidden_size = hidden_size
        self.embed = nn.Linear(in_features, hidden_size)
        self.cells = nn.ModuleList(nn.LSTMCell(hidden_size, hidden_size) for _ in range(num_layers))

    def initial_state(self, like: Tensor) -> LSTMState:
        """All-zero state for the batch of `like` (`[B, ...]`), on its device, in its dtype."""
        zeros = like.new_zeros(like.shape[0], self.hidden_size)
        return ((zeros, zeros),) * len(self.cells)

    def _top(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One step through the stack: the top layer's h `[B, hidden_size]` and the new state."""
        h = self.embed(x)
        new_state = []
        for cell, layer_state in zip(self.cells, state, strict=True):
            layer_state = cell(h, layer_state)
            new_state.append(layer_state)
            h = layer_state[0]
        return h, tuple(new_state)


class DeterministicLSTM(_EmbeddedLSTM):
    """Embedding, stacked LSTM cells, linear output: one step.

    Args:
        in_features: length of each step's input.
        out_features: length of each step's output.
        hidden_size: cells of every LSTM layer and width of the embedding.
        num_layers: stacked LSTM cells.

    Shape: x `[B, in_features]`, state -> output `[B, out_features]`, new state.
    """

    def __init__(
        self, in_features: int, out_features: int, *, hidden_size: int, num_layers: int
    ) -> None:
        super().__init__(in_features, hidden_size=hidden_size, num_layers=num_layers)
        self.output = nn.Linear(hidden_size, out_features)

    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, state = self._top(x, state)
        return self.output(h), state


class GaussianLSTM(_EmbeddedLSTM):
    """Embedding, stacked LSTM cells, and linear heads for the mean and log-variance: one step.

    Args: as `DeterministicLSTM`'s; `out_features` is the Gaussian's dimension.

    Shape: x `[B, in_features]`, state -> mu `[B, out_features]`, logvar (same), new state.
    """

    def __init__(
        self, in_features: int, out_features: int, *, hidden_size: int, num_layers: int
    ) -> None:
        super().__init__(in_features, hidden_size=hidden_size, num_layers=num_layers)
        self.mu = nn.Linear(hidden_size, out_features)
        self.logvar = nn.Linear(hidden_size, out_features)

    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, Tensor, LSTMState]:
        h, state = self._top(x, state)
        return self.mu(h), self.logvar(h), state


def reparameterize(
    mu: Tensor, logvar: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """A draw from N(mu, exp(logvar)) as mu + exp(logvar / 2) * eps, differentiable in both.

    eps ~ N(0, I) comes from `generator` (on `mu`'s device), or torch's global generator if None.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps
