"""genvid: probabilistic generative models of images and video on PyTorch."""

from genvid.presets import create, presets

__all__ = ["create", "presets"]
__version__ = "0.1.0"
