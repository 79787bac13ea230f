"""The likelihood-model contract shared by every autoregressive model (DESIGN.md, section 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class LikelihoodModel(nn.Module):
    """Base class: subclasses define `nll`; `log_prob` and the training `forward` follow from it.

    Data arrive as uint8 (DESIGN.md, section 2); a model scales them itself.
    """

    def nll(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Per-dimension negative log-likelihood in nats, float32, shaped like `x`."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Log-probability of each example in nats. Shape: `[B]`."""
        return -self.nll(x, context).flatten(1).sum(1)

    def forward(self, batch: Tensor) -> dict[str, Tensor]:
        """Training loss for the trainer: NLL in nats per example, averaged over the batch."""
        nats = self.nll(batch).flatten(1).sum(1).mean()
        return {"loss": nats, "nats": nats.detach()}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Evaluation mode (no dropout, fixed statistics) for a block, then the caller's mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)
