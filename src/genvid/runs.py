"""Run directories: start, resume, evaluate and sample a run (what the CLI subcommands do).

A run directory is self-describing (`docs/design.md`): `config.json` holds the preset, its
overrides and the data description, so every later command rebuilds the same model and data
from the directory alone.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from genvid import data as gdata
from genvid.atomic import atomic_write
from genvid.evaluate import evaluate_nll
from genvid.presets import create, get_preset, make_config
from genvid.train import (
    FitResult,
    TrainConfig,
    fit,
    load_checkpoint,
    read_run_config,
    seed_everything,
)
from genvid.train.distributed import resolve_device
from genvid.viz import save_image_grid

SAMPLE_GRID = 16  # images in the TensorBoard sample grid


def _model_from_spec(spec: dict[str, Any]) -> torch.nn.Module:
    return create(spec["model"]["preset"], **spec["model"]["overrides"])


def _stream(spec: dict[str, Any], seed: int):
    return gdata.train_stream(spec["data"]["name"], seed=seed, root=spec["data"]["root"])


def _sample_fn(example_shape: tuple[int, ...], seed: int):
    size = tuple(example_shape[-2:])

    def draw(model: torch.nn.Module) -> torch.Tensor:
        generator = torch.Generator(device=model.device).manual_seed(seed)
        return model.sample(SAMPLE_GRID, size, generator=generator)

    return draw


def _fit(spec: dict[str, Any], config: TrainConfig, run_dir: Path, *, resume: bool) -> FitResult:
    seed_everything(config.seed)  # the initial weights are a function of the seed
    model = _model_from_spec(spec)
    stream = _stream(spec, config.seed)
    sample_fn = _sample_fn(stream.example_shape, config.seed) if config.sample_every else None
    return fit(model, stream, config, run_dir, spec=spec, sample_fn=sample_fn, resume=resume)


def start_run(
    preset: str,
    overrides: dict[str, Any],
    data_name: str | None,
    root: str | None,
    run_dir: Path,
    train_options: dict[str, Any],
) -> FitResult:
    """Train `preset` from scratch into `run_dir` (which must not hold a run yet)."""
    if (run_dir / "config.json").exists():
        raise ValueError(f"{run_dir} already holds a run; continue it with --resume {run_dir}")
    config = TrainConfig(**train_options)
    spec = {
        "model": {
            "preset": preset,
            "overrides": overrides,
            "config": dataclasses.asdict(make_config(preset, **overrides)),
        },
        "data": {"name": data_name or get_preset(preset).data, "root": root},
    }
    _stream(spec, config.seed)  # fail on missing data before anything is written
    return _fit(spec, config, run_dir, resume=False)


def resume_run(run_dir: Path, train_options: dict[str, Any]) -> FitResult:
    """Continue the run in `run_dir`; options given replace the stored ones (e.g. `steps`)."""
    stored = read_run_config(run_dir)
    config = TrainConfig(**{**stored["train"], **train_options})
    spec = {key: value for key, value in stored.items() if key != "train"}
    return _fit(spec, config, run_dir, resume=True)


def load_run_model(run_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict, int]:
    """The model of `run_dir` with its last checkpoint's weights (and that checkpoint's step)."""
    spec = read_run_config(run_dir)
    model = _model_from_spec(spec)
    step = load_checkpoint(run_dir, model).step
    return model.to(device).eval(), spec, step


def evaluate_run(
    run_dir: Path,
    *,
    split: str = "test",
    data_name: str | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> dict[str, Any]:
    """Exact NLL of the run's model on a data split; writes `RUN/eval.json` and returns it."""
    torch_device = resolve_device(device)
    model, spec, step = load_run_model(run_dir, torch_device)
    name = data_name or spec["data"]["name"]
    examples = gdata.eval_set(name, split, root=spec["data"]["root"], limit=limit)
    figures = evaluate_nll(model, examples, batch_size=batch_size, device=torch_device)
    report = {
        **figures,
        "units": {"nll_nats": "nats per image (natural log, summed over all dims)"},
        "protocol": {
            "data": name,
            "split": split,
            "count": figures["count"],
            "first_n": limit,
            "seed": None,  # fixed test sets: no randomness in the evaluation
            "checkpoint_step": step,
            "precision": "fp32",
            "preset": spec["model"]["preset"],
            "overrides": spec["model"]["overrides"],
        },
    }
    text = json.dumps(report, indent=2)
    atomic_write(run_dir / "eval.json", lambda handle: handle.write(text.encode()))
    return report


def sample_run(
    run_dir: Path,
    out: Path,
    *,
    count: int = 16,
    seed: int = 0,
    size: str | None = None,
    fast: bool = True,
    device: str = "auto",
) -> Path:
    """Draw `count` samples from the run's model and write them as a PNG grid."""
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must end in .png, got {out}")
    if count < 1:
        raise ValueError(f"--n must be >= 1, got {count}")
    torch_device = resolve_device(device)
    model, spec, _ = load_run_model(run_dir, torch_device)
    if size is None:
        shape = tuple(_stream(spec, 0).example_shape[-2:])
    else:
        try:
            shape = tuple(int(side) for side in size.lower().split("x"))
        except ValueError:
            shape = ()
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"--size wants HxW such as 28x28, got {size!r}")
    generator = torch.Generator(device=torch_device).manual_seed(seed)
    images = model.sample(count, shape, generator=generator, fast=fast, progress=True)
    return save_image_grid(images, out)


def write_moving_mnist_file(out: Path, sequences: int, *, seed: int, stochastic: bool) -> str:
    """Regenerate Moving MNIST from MNIST-test digits into `out`; returns a one-line summary."""
    if sequences < 1:
        raise ValueError(f"--sequences must be >= 1, got {sequences}")
    videos = gdata.regenerate_test_set(sequences, seed=seed, stochastic=stochastic)
    path = gdata.write_moving_mnist(out, videos)
    bound = gdata.entropy_lower_bound(videos)
    kind = "stochastic" if stochastic else "deterministic"
    return (
        f"wrote {path}: Moving MNIST (regenerated, {kind}, seed {seed}), shape "
        f"{tuple(gdata.to_file_layout(videos).shape)}; entropy lower bound "
        f"{bound:.2f} nats/frame over frames 11-{videos.shape[1]}"
    )


def data_lines() -> list[str]:
    """What `genvid info` says about data sets."""
    return [
        f"{info.name:<24} {'found' if info.found else 'missing':<8} {info.location}"
        for info in gdata.describe()
    ]


def device_lines() -> list[str]:
    """What `genvid info` says about devices."""
    lines = [f"cpu: {torch.get_num_threads()} threads, torch {torch.__version__}"]
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        memory = properties.total_memory / 2**30
        lines.append(f"cuda:{index}: {properties.name}, {memory:.0f} GiB")
    if not torch.cuda.is_available():
        lines.append("cuda: not available")
    return lines
