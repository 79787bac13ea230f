"""Evaluation protocols: how the runs of a preset are judged and sampled.

Each preset names one (`genvid.presets.Preset.protocol`), so `genvid eval` and `genvid sample`
dispatch through it and never look at a tensor's rank or a model's attributes: a new model
family is its model file and its presets, with a protocol from here or a new one beside them.
Each protocol declares what it calls on a model (`model_contract`, a `typing.Protocol` beside
it) and the `genvid sample` options it takes (`sampler_options`).

- `ImageNLL`: exact NLL of images, nats per image and bits/dim, the paper's figure beside it.
- `VideoNLL`: exact NLL of the predicted frames of videos given context frames, nats per frame,
  the data's entropy bound and the paper's figures where they apply.
- `FramePrediction`: SSIM and PSNR per predicted frame, best of N samples (SVG's protocol).
- `VideoFVD`: Frechet Video Distance of generated clips, beside the real-vs-real floor (GANs).
"""

from genvid.protocols.base import Protocol, Sampler
from genvid.protocols.fvd import VideoFVD
from genvid.protocols.image import ImageNLL
from genvid.protocols.prediction import FramePrediction
from genvid.protocols.video import VideoNLL

__all__ = ["FramePrediction", "ImageNLL", "Protocol", "Sampler", "VideoFVD", "VideoNLL"]
