"""The likelihood-model contract shared by every autoregressive model (DESIGN.md, section 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from genvid.configcheck import check_field_types
from genvid.nn.likelihoods import make_likelihood


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


def check_config(config, *, at_least: dict[str, int], odd: tuple[str, ...]) -> None:
    """The checks every likelihood model's config shares; each raises `ValueError` naming the field.

    Args:
        config: a config dataclass with `channels` and `likelihood` fields.
        at_least: field name -> its smallest allowed value.
        odd: names of fields that must be odd (kernel sizes).
    """
    check_field_types(config)
    if config.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {config.channels}")
    make_likelihood(config.likelihood)  # raises on an unknown name
    for name, low in at_least.items():
        if getattr(config, name) < low:
            raise ValueError(f"{name} must be >= {low}, got {getattr(config, name)}")
    for name in odd:
        if getattr(config, name) % 2 != 1:
            raise ValueError(f"{name} must be odd, got {getattr(config, name)}")
