"""genvid: probabilistic generative models of images and video on PyTorch."""

from genvid.presets import create, presets
from genvid.pretrained import load as load_pretrained

__all__ = ["create", "load_pretrained", "presets"]
__version__ = "0.1.0"
