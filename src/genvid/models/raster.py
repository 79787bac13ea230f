"""What the raster-scan likelihood models share: PixelCNN, the PixelRNNs and the VPN's decoder.

Each reads uint8 values scaled to [-1, 1] in its parameters' dtype, orders them in raster scan
(DESIGN.md, section 2), and samples through a `RasterCache` padded by the margin of its widest
masked kernel.
"""

from __future__ import annotations

from collections.abc import Collection

from torch import Tensor

from genvid.autoregressive.sampling import RasterCache
from genvid.models.base import LikelihoodModel
from genvid.nn.likelihoods import make_likelihood

# The output head's layers as releases before `OutputHead` named them (PixelCNN and the
# PixelRNNs: output_hidden, output_params; the VPN decoder: output) -> their names now.
_HEAD_RENAMES = {
    "output_hidden": "head.hidden",
    "output_params": "head.params",
    "output": "head.params",
}


def renamed_head_weights(
    weights: dict[str, Tensor], expected: Collection[str]
) -> dict[str, Tensor]:
    """Weights saved before the shared output head, under their names now: a key not in
    `expected` (the model's state_dict keys) is renamed where the new name is one of them."""
    renamed = {}
    for key, value in weights.items():
        if key not in expected:
            parts = key.split(".")
            new = ".".join([*(_HEAD_RENAMES.get(part, part) for part in parts[:-1]), parts[-1]])
            key = new if new in expected else key
        renamed[key] = value
    return renamed


class RasterModel(LikelihoodModel):
    """Base class: `config` has `channels`, `likelihood`, `first_kernel_size`, `kernel_size`.

    Subclasses name the layer that first reads the scaled values (`input_name`): its weight's
    dtype is the dtype values are scaled to (a `.double()` model reads float64).
    """

    input_name = "input_layer"

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.likelihood = make_likelihood(config.likelihood)

    def _scale(self, x: Tensor) -> Tensor:
        """uint8 values in [0, max_value] -> [-1, 1] in the parameters' dtype."""
        dtype = getattr(self, self.input_name).weight.dtype
        return x.to(dtype) * (2.0 / self.likelihood.max_value) - 1.0

    @property
    def margin(self) -> int:
        """Columns and rows a masked kernel reaches from its centre: the caches' padding."""
        return max(self.config.first_kernel_size, self.config.kernel_size) // 2

    def renamed_weights(self, weights: dict[str, Tensor]) -> dict[str, Tensor]:
        """Checkpoint hook: weights of an older release under today's names."""
        return renamed_head_weights(weights, self.state_dict().keys())

    def _raster_cache(self, n: int, size: tuple[int, int], like: Tensor) -> RasterCache:
        """A raster cache for `n` images of `size`, on `like`'s device and in its dtype."""
        return RasterCache(n, size, self.config.channels, self.margin, self._scale, like=like)

    def _check_images(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.config.channels:
            raise ValueError(
                f"expected images [B, {self.config.channels}, H, W], got {tuple(x.shape)}"
            )
