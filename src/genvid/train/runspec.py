"""Which run a run directory holds: a fresh run must not overwrite one, a resumed run must be
the same experiment (same model, data and TrainConfig, bar the fields in RESUMABLE_CHANGES).

A directory with a config but no checkpoint is a run that failed before its first save (killed,
NaN at step 2, data the model cannot take): a fresh run may replace it, and a resume starts it
from step 0 with its stored configuration, as elastic trainers do.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from genvid.train.checkpoint import has_checkpoint, read_run_config
from genvid.train.config import RESUMABLE_CHANGES, TrainConfig


def run_spec(run_dir: Path, config: TrainConfig, spec: dict | None, resume: bool) -> dict:
    """Check that `run_dir` suits a fresh or a resumed run; return the spec to store with it.

    Raises:
        ValueError: a fresh run into a directory holding a checkpoint, or a resume whose
            configuration differs from the stored one (the message names the first fields).
        FileNotFoundError: a resume from a directory without a run config.
    """
    spec = _as_json(spec) if spec is not None else None
    if not resume:
        if has_checkpoint(run_dir):
            raise ValueError(
                f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                "or choose another --out"
            )
        return spec or {}
    stored = read_run_config(run_dir)
    stored_spec = {k: v for k, v in stored.items() if k != "train"}
    differences = _differences(
        {"train": _without(stored.get("train", {})), **stored_spec},
        {"train": _without(asdict(config)), **(spec if spec is not None else stored_spec)},
    )
    if differences:
        raise ValueError(
            f"{run_dir} was trained with a different configuration "
            f"({'; '.join(differences[:3])}); resume with the stored one or start a new run"
        )
    return stored_spec


def _as_json(spec: dict) -> dict:
    """The spec as config.json will hold it (tuples become lists), so comparisons are fair."""
    if "train" in spec:
        raise ValueError("spec must not hold a 'train' key: fit stores the TrainConfig there")
    try:
        return json.loads(json.dumps(spec))
    except TypeError as err:
        raise ValueError(f"spec must be JSON-serialisable: {err}") from None


def _without(train: dict) -> dict:
    return {k: v for k, v in train.items() if k not in RESUMABLE_CHANGES}


def _differences(old: object, new: object, path: str = "") -> list[str]:
    """Human-readable leaves where two JSON-like values differ: "train.lr: 0.001 -> 0.002"."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            line
            for key in sorted(old.keys() | new.keys())
            for line in _differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        ]
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


def create_run_dir(run_dir: Path) -> None:
    """Make RUN (and its parents), or say in one line why it cannot be a run directory."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir} exists and is not a directory; choose another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except NotADirectoryError:
        blocker = next(p for p in run_dir.parents if p.exists())
        raise ValueError(
            f"cannot create the run directory {run_dir}: {blocker} is a file"
        ) from None
    except OSError as err:
        raise ValueError(f"cannot create the run directory {run_dir}: {err.strerror}") from None
