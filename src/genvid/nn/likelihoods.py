"""Output distributions: one interface for every likelihood model (DESIGN.md, section 3).

A model emits `param_channels(C)` maps per pixel, laid out colour-major: the parameters of
colour `c` are the contiguous block `c * P : (c + 1) * P` (P = parameters per value), which is
exactly the colour group `c` of a masked convolution with `color_groups = C`.

- `Categorical`: 256-way softmax over intensities (PixelRNN, VPN on colour video).
- `Bernoulli`: binary data (binarised MNIST).
- `SoftBernoulli`: sigmoid cross-entropy against grey levels / 255 used as probabilities
  (Srivastava et al. 2015; the VPN paper's Moving MNIST protocol). Its minimum over
  predictions is the data's own Bernoulli entropy, the 86.3 nats/frame lower bound.

Every `nll` is per dimension, in nats, float32 whatever the dtype of the parameters (so bf16
autocast never touches a reported likelihood), or float64 for a float64 model.

Every `nll` first checks that the data lie in the distribution's support (uint8 values up to
`max_value`): grey levels scored by a Bernoulli would give a "likelihood" that goes to minus
infinity as training goes on. `OutOfSupportError` says which values and what to use instead.

Sampling draws one uniform number per value and inverts the CDF, so two samplers that consume
the same generator in the same order draw the same values (used to test fast sampling against
the naive reference).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LikelihoodName = Literal["bernoulli", "soft_bernoulli", "categorical"]


class OutOfSupportError(ValueError):
    """The data hold values to which the likelihood gives no probability."""


@torch.compiler.disable  # data-dependent: runs eagerly beside a compiled model
def check_support(x: Tensor, likelihood: Bernoulli | Categorical) -> None:
    """Raise `OutOfSupportError` unless `x` is uint8 with values up to `likelihood.max_value`
    (what the likelihood can score, and what a sampler can be given)."""
    if x.dtype != torch.uint8:
        raise OutOfSupportError(
            f"the {likelihood.name} likelihood scores uint8 data, got {x.dtype}"
        )
    high = int(x.max()) if x.numel() else 0
    if high > likelihood.max_value:
        raise OutOfSupportError(
            f"the {likelihood.name} likelihood scores values 0..{likelihood.max_value} but the "
            f"data hold values up to {high}; {likelihood.instead}"
        )


def _loss_dtype(params: Tensor) -> torch.dtype:
    return torch.float64 if params.dtype == torch.float64 else torch.float32


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device).to(like.device)


class Bernoulli:
    """Binary values {0, 1}; one logit per value."""

    name = "bernoulli"
    max_value = 1  # the largest data value; models scale inputs by it
    params_per_value = 1
    instead = (
        "use binary data (e.g. binarized-mnist) or --set likelihood=categorical "
        "(or soft_bernoulli) for grey levels"
    )

    def param_channels(self, channels: int) -> int:
        return channels

    def nll(self, params: Tensor, x: Tensor) -> Tensor:
        """Shape: params `[B, C, ...]`, x uint8 `[B, C, ...]` -> nats `[B, C, ...]`."""
        check_support(x, self)
        logits = params.to(_loss_dtype(params))
        return F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Shape: params `[B, C, ...]` -> uint8 values `[B, C, ...]`."""
        return self.draw(params, self.uniform(params, generator))

    def uniform(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The uniform numbers `draw` turns into values of `params` (one per value)."""
        return _uniform(tuple(params.shape), params, generator)

    def draw(self, params: Tensor, u: Tensor) -> Tensor:
        """Values from `params` by inverting the CDF at `u` (`uniform`); no Python branches,
        so a compiled sampling step can include it."""
        return (u < torch.sigmoid(params.to(_loss_dtype(params)))).to(torch.uint8)


class SoftBernoulli(Bernoulli):
    """Grey levels 0..255 scored by sigmoid cross-entropy against x / 255.

    Sampling draws a binary value per pixel (stored as 0 or 255): the distribution the
    cross-entropy scores is Bernoulli, and its mean would not be a sample.
    """

    name = "soft_bernoulli"
    max_value = 255

    def nll(self, params: Tensor, x: Tensor) -> Tensor:
        check_support(x, self)
        logits = params.to(_loss_dtype(params))
        target = x.to(logits.dtype) / 255.0
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")

    def draw(self, params: Tensor, u: Tensor) -> Tensor:
        return super().draw(params, u) * 255


class Categorical:
    """Values 0..255 (or `num_classes - 1`); a softmax over `num_classes` logits per value."""

    name = "categorical"
    params_per_value = 256
    max_value = 255
    instead = "use 8-bit data"

    def param_channels(self, channels: int) -> int:
        return channels * self.params_per_value

    def _logits(self, params: Tensor) -> Tensor:
        b, p = params.shape[:2]  # (B, C*K, ...) -> (B, C, K, ...)
        k = self.params_per_value
        return params.to(_loss_dtype(params)).reshape(b, p // k, k, *params.shape[2:])

    def nll(self, params: Tensor, x: Tensor) -> Tensor:
        check_support(x, self)
        logits = self._logits(params)
        return F.cross_entropy(logits.transpose(1, 2), x.long(), reduction="none")

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.draw(params, self.uniform(params, generator))

    def uniform(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One uniform number per value: shape `[B, C, 1, ...]` for params `[B, C*K, ...]`."""
        b, p = params.shape[:2]
        shape = (b, p // self.params_per_value, 1, *params.shape[2:])
        return _uniform(shape, params, generator)

    def draw(self, params: Tensor, u: Tensor) -> Tensor:
        """Values from `params` by inverting the CDF at `u` (`uniform`)."""
        probs = torch.softmax(self._logits(params), dim=2)  # (B, C, K, ...)
        below = (probs.cumsum(dim=2) < u.to(probs.dtype)).sum(dim=2)
        return below.clamp(max=self.params_per_value - 1).to(torch.uint8)


def make_likelihood(name: str) -> Bernoulli | SoftBernoulli | Categorical:
    """The output distribution called `name`."""
    table = {"bernoulli": Bernoulli, "soft_bernoulli": SoftBernoulli, "categorical": Categorical}
    if name not in table:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {sorted(table)}")
    return table[name]()
