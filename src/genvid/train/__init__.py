"""The one training loop: `fit(model, stream, config, run_dir)` and the run directory it writes.

Modules, one job each: `config` (TrainConfig), `loop` (fit), `update` (what one step does),
`adversarial` (the alternating critic and generator update), `optim` (optimiser and schedule),
`checkpoint` (atomic files of the run directory), `runspec` (fresh run or same experiment?),
`rng` (seeding and generator states), `distributed` (torchrun/DDP set-up) and `monitor`
(TensorBoard and progress bar).
"""

from genvid.train.checkpoint import (
    Checkpoint,
    atomic_write,
    load_checkpoint,
    load_weights,
    read_run_config,
    save_checkpoint,
)
from genvid.train.config import TrainConfig
from genvid.train.loop import FitResult, Stream, fit
from genvid.train.optim import lr_factor
from genvid.train.rng import seed_everything
from genvid.train.update import LikelihoodUpdate, NonFiniteLossError, Update, train_step

__all__ = [
    "Checkpoint",
    "FitResult",
    "LikelihoodUpdate",
    "NonFiniteLossError",
    "Stream",
    "TrainConfig",
    "Update",
    "atomic_write",
    "fit",
    "load_checkpoint",
    "load_weights",
    "lr_factor",
    "read_run_config",
    "save_checkpoint",
    "seed_everything",
    "train_step",
]
