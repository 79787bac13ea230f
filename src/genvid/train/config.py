"""The training configuration: every knob of `fit`, validated once, stored in RUN/config.json."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from genvid.configcheck import check_field_types

# Fields that may differ when a run is resumed: they change when, where and how often things
# happen, never which numbers are computed (changing `steps` also stretches a cosine schedule).
RESUMABLE_CHANGES = frozenset({"steps", "log_every", "checkpoint_every", "sample_every", "device"})
# Bound of every count: far beyond any real run, so a typo fails now, not in a later overflow.
MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, precision, devices, checkpoints and logging."""

    steps: int = 1000  # total optimiser updates of the run (a resumed run counts from 0 too)
    batch_size: int = 64  # global batch: examples per update summed over all ranks
    lr: float = 1e-3  # peak learning rate
    optimizer: Literal["adam", "rmsprop"] = "adam"  # torch.optim.Adam or torch.optim.RMSprop
    weight_decay: float = 0.0  # L2 penalty added to the gradient (torch's coupled form)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine decays to 0 at `steps`
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps to lr over these updates
    grad_clip: float | None = 1.0  # clip gradient norms to this; None: no clipping
    # "global": one factor for all gradients of an optimiser (their joint norm); "tensor": each
    # parameter tensor clipped to its own norm (the video GAN seed's recipe)
    grad_clip_mode: Literal["global", "tensor"] = "global"
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast forward on CPU and CUDA
    compile: bool = False  # run the model through torch.compile
    channels_last: bool = False  # model and 4-D batches in channels_last memory format
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda" or "cuda:N"
    seed: int = 0  # seeds torch, numpy and random (rank r uses seed + r)
    checkpoint_every: int = 500  # updates between checkpoints; the last update always saves
    log_every: int = 10  # updates between TensorBoard scalars and progress-bar refreshes
    sample_every: int = 0  # updates between sample grids in TensorBoard; 0: never

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from stored values (RUN/config.json), naming any field it does not know."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig has no field {unknown[0]!r}")
        return cls(**values)

    def __post_init__(self) -> None:
        check_field_types(self)
        positive = ("steps", "batch_size", "checkpoint_every", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "sample_every", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in (*positive, "warmup_steps", "sample_every"):
            if getattr(self, name) > MAX_COUNT:
                raise ValueError(
                    f"TrainConfig.{name} must be <= {MAX_COUNT}, got {getattr(self, name)}"
                )
        for name in ("lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"TrainConfig.{name} must be finite, got {value}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip}")
        if not 0 <= self.seed < 2**32 - 2**16:
            raise ValueError(f"TrainConfig.seed must be in [0, 2**32 - 2**16), got {self.seed}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(
                f"TrainConfig.device must be auto, cpu, cuda or cuda:N, got {self.device!r}"
            )
