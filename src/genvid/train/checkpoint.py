"""The run directory on disk: atomic writes, checkpoints and the stored run configuration.

```
RUN/config.json          {"model": ..., "data": ..., "train": asdict(TrainConfig)}
RUN/model.safetensors    weights of the unwrapped, uncompiled module (metadata: step)
RUN/state.pt             every optimiser and scheduler by name, the update's state, step,
                         loss, every rank's RNG states
RUN/card.json            only in a shipped model's directory (`genvid.pretrained`), which
                         holds no state.pt: weights to evaluate and sample, never to resume
```
Each file is replaced atomically, so a crash mid-write leaves the previous file intact. Both
checkpoint files are fully written before either is renamed; both carry the step, and a pair
left torn by a crash between the two renames is refused with one line rather than loaded.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from torch import Tensor, nn

from genvid.atomic import atomic_write, atomic_write_all
from genvid.errors import first_line

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
CARD = "card.json"


def is_pretrained(run_dir: str | Path) -> bool:
    """Whether RUN is a shipped model's directory: read-only, weights without training state."""
    return (Path(run_dir) / CARD).is_file()


def write_run_config(run_dir: str | Path, config: dict) -> None:
    """Store the run's configuration (model, data, train) as RUN/config.json."""
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    atomic_write(Path(run_dir) / CONFIG, lambda f: f.write(text.encode()))


def read_run_config(run_dir: str | Path) -> dict:
    """The dictionary stored in RUN/config.json."""
    path = _existing(Path(run_dir) / CONFIG)
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return config


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether RUN already holds checkpoint files (a fresh run must not overwrite them)."""
    return any((Path(run_dir) / name).exists() for name in (WEIGHTS, STATE))


def save_checkpoint(
    run_dir: str | Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler],
    step: int,
    *,
    loss: float,
    rng_states: list[dict],
    update_state: dict | None = None,
) -> None:
    """Write RUN/model.safetensors and RUN/state.pt for `step` completed updates.

    Args:
        model: the unwrapped, uncompiled module (its state_dict keys carry no DDP or compile
            prefixes, so the weights load into a freshly built model).
        optimizers, schedulers: by name ("model" for the likelihood update; "critic",
            "frame_generator", ... for an adversarial one).
        loss: the loss of the last update, returned by a resume that has nothing left to do.
        rng_states: one `rng.rng_state` dictionary per rank, in rank order.
        update_state: the update's own state (`Update.state_dict`), e.g. its current phase.
    """
    run_dir = Path(run_dir)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = safetensors.torch.save(weights, metadata={"step": str(step)})
    state = {
        "step": step,
        "loss": loss,
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "schedulers": {name: sched.state_dict() for name, sched in schedulers.items()},
        "update": update_state or {},
        "rng": rng_states,
    }
    # Weights are renamed first, so `load_weights` sees the newest weights even if a crash
    # strikes between the two renames.
    atomic_write_all(
        {
            run_dir / WEIGHTS: lambda f: f.write(blob),
            run_dir / STATE: lambda f: _torch_save(state, f),
        }
    )


def _torch_save(obj: object, file) -> None:  # noqa: ANN001 (a binary file object)
    """`torch.save`, with the error its archive writer raises when a write comes up short (a
    full disk: "[enforce fail at inline_container.cc] unexpected pos") as the OSError it is,
    so every caller that handles a full disk handles this one too."""
    try:
        torch.save(obj, file)
    except RuntimeError as err:
        if "inline_container" not in str(err) and "unexpected pos" not in str(err):
            raise
        raise OSError(
            errno.ENOSPC, f"torch.save could not finish writing ({first_line(err)}); disk full?"
        ) from None


def load_weights(run_dir: str | Path) -> dict[str, Tensor]:
    """The weights stored in RUN/model.safetensors (CPU tensors, keyed like `state_dict`)."""
    return _read_weights(Path(run_dir))[0]


@dataclass(frozen=True)
class Checkpoint:
    """What `load_checkpoint` read besides the tensors it loaded into place."""

    step: int  # completed updates
    loss: float  # loss of the last of them
    rng_states: list[dict]  # one per rank of the world that wrote it


def load_checkpoint(
    run_dir: str | Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] | None = None,
    update=None,  # noqa: ANN001 (a genvid.train.update.Update; train imports this module)
) -> Checkpoint:
    """Load RUN's weights into `model`, and the named optimisers, schedulers and the update's
    state if given (each name stored must be asked for, and each asked for must be stored).

    A model whose older releases saved weights under other names renames them itself: its
    `renamed_weights(weights) -> weights` (if it has one) is called before they are checked."""
    run_dir = Path(run_dir)
    weights, weights_step = _fitting_weights(run_dir, model)
    state = _read_state(run_dir)
    if state["step"] != weights_step:
        raise ValueError(
            f"{run_dir} holds a torn checkpoint (weights at step {weights_step}, state at step "
            f"{state['step']}); the write was interrupted, restart the run"
        )
    model.load_state_dict(weights)
    try:
        for kind, wanted in (("optimizers", optimizers), ("schedulers", schedulers)):
            if wanted is not None:
                _load_named(kind, state[kind], wanted)
        if update is not None:
            update.load_state_dict(state["update"])
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise ValueError(
            f"{run_dir / STATE}: its optimiser or scheduler state does not fit this run "
            f"({first_line(err)})"
        ) from None
    return Checkpoint(state["step"], state["loss"], state["rng"])


def load_model_weights(run_dir: str | Path, model: nn.Module) -> int:
    """Load RUN's weights into `model` and return their step: all that a shipped model, which
    has no state.pt, holds. Weights stored in a narrower float (a bfloat16 export) are cast to
    the dtype of the model's parameters (`load_state_dict` copies into them)."""
    weights, step = _fitting_weights(Path(run_dir), model)
    model.load_state_dict(weights)
    return step


def _fitting_weights(run_dir: Path, model: nn.Module) -> tuple[dict[str, Tensor], int]:
    """RUN's weights under `model`'s names (its `renamed_weights`, if any), checked to fit it,
    and their step."""
    weights, step = _read_weights(run_dir)
    renamed = getattr(model, "renamed_weights", None)
    if renamed is not None:
        weights = renamed(weights)
    _check_fits(run_dir / WEIGHTS, model, weights)
    return weights, step


def _load_named(kind: str, stored: dict, wanted: dict) -> None:
    if stored.keys() != wanted.keys():
        raise ValueError(f"it holds {kind} {sorted(stored)}, this run has {sorted(wanted)}")
    for name, target in wanted.items():
        target.load_state_dict(stored[name])


# What state.pt must hold, and the type of each entry.
_STATE_KEYS = {
    "step": int,
    "loss": float,
    "optimizers": dict,
    "schedulers": dict,
    "update": dict,
    "rng": list,
}


def _read_state(run_dir: Path) -> dict:
    path = _existing(run_dir / STATE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many kinds on a damaged file; all mean that
        raise ValueError(f"{path} is not a readable checkpoint: {first_line(err)}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a genvid checkpoint: it holds a {type(state).__name__}")
    if "optimizer" in state and "optimizers" not in state:  # written before named optimisers
        state["optimizers"] = {"model": state.pop("optimizer")}
        state["schedulers"] = {"model": state.pop("scheduler", None)}
        state["update"] = {}
    for key, kind in _STATE_KEYS.items():
        if key not in state:
            raise ValueError(f"{path} is not a genvid checkpoint: it has no {key!r}")
        if not isinstance(state[key], kind):
            raise ValueError(
                f"{path}: {key!r} is a {type(state[key]).__name__}, not a {kind.__name__}"
            )
    return state


def _read_weights(run_dir: Path) -> tuple[dict[str, Tensor], int]:
    path = _existing(run_dir / WEIGHTS)
    try:
        weights = safetensors.torch.load_file(path)
        with safetensors.safe_open(path, "pt") as f:
            step = int((f.metadata() or {}).get("step", -1))
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {first_line(err)}") from None
    return weights, step


def _check_fits(path: Path, model: nn.Module, weights: dict[str, Tensor]) -> None:
    """One line naming what differs, instead of load_state_dict's multi-line report."""
    expected = model.state_dict()
    problems = {
        "missing": sorted(expected.keys() - weights.keys()),
        "unexpected": sorted(weights.keys() - expected.keys()),
        "wrong shape": sorted(
            k for k in expected.keys() & weights.keys() if expected[k].shape != weights[k].shape
        ),
    }
    found = [
        f"{kind} {keys[:3]}{'...' if len(keys) > 3 else ''}"
        for kind, keys in problems.items()
        if keys
    ]
    if found:
        raise ValueError(f"{path} does not fit the model: {'; '.join(found)}")


def _existing(path: Path) -> Path:
    if not path.parent.is_dir():
        raise FileNotFoundError(f"run directory {path.parent} does not exist")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: not a genvid run directory, or no checkpoint yet"
        )
    return path
