"""What the raster-scan likelihood models share: PixelCNN, the PixelRNNs and the VPN's decoder.

Each reads uint8 values scaled to [-1, 1] in its parameters' dtype, orders them in raster scan
(DESIGN.md, section 2), and samples through a `RasterCache` padded by the margin of its widest
masked kernel.
"""

from __future__ import annotations

from torch import Tensor

from genvid.models.base import LikelihoodModel
from genvid.nn.likelihoods import make_likelihood
from genvid.sampling import RasterCache


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

    def _raster_cache(self, n: int, size: tuple[int, int], like: Tensor) -> RasterCache:
        """A raster cache for `n` images of `size`, on `like`'s device and in its dtype."""
        return RasterCache(n, size, self.config.channels, self.margin, self._scale, like=like)

    def _check_images(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.config.channels:
            raise ValueError(
                f"expected images [B, {self.config.channels}, H, W], got {tuple(x.shape)}"
            )
