"""Run directories: start, resume, evaluate and sample a run (what the CLI subcommands do).

A run directory is self-describing (`docs/design.md`): `config.json` holds the preset, its
overrides and the data description, so every later command rebuilds the same model and data
from the directory alone.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from genvid import data as gdata
from genvid.atomic import atomic_write, prepare_output
from genvid.evaluate import NonFiniteResultError, evaluate_nll, evaluate_video_nll
from genvid.nn.likelihoods import OutOfSupportError
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
from genvid.viz import save_image_grid, save_video_gif

SAMPLE_GRID = 16  # images in the TensorBoard sample grid
SAMPLE_VIDEOS, SAMPLE_STEPS = 2, 4  # videos and frames in TensorBoard's video samples
IMAGE_EVAL_BATCH, VIDEO_EVAL_BATCH = 64, 8  # examples per evaluation pass (CPU-friendly)
CONTEXT_FRAMES, PREDICTED_FRAMES = 10, 10  # Moving MNIST protocol: frames 11-20 given 1-10
PAPER_NATS_PER_FRAME = {"VPN": 87.6, "VPN baseline": 110.1, "lower bound": 86.3}


def _model_from_spec(spec: dict[str, Any]) -> torch.nn.Module:
    return create(spec["model"]["preset"], **spec["model"]["overrides"])


# What config.json must hold besides "train": key -> {entry: allowed types}.
_SPEC_SHAPE = {
    "model": {"preset": (str,), "overrides": (dict,)},
    "data": {"name": (str,), "root": (str, type(None))},
}


def _read_spec(run_dir: Path) -> dict[str, Any]:
    """RUN/config.json, checked so that a damaged or hand-edited file fails in one line."""
    stored = read_run_config(run_dir)
    path = run_dir / "config.json"
    for key, entries in {**_SPEC_SHAPE, "train": {}}.items():
        if not isinstance(stored.get(key), dict):
            raise ValueError(f"{path} is not a genvid run config: it has no {key!r} object")
        for entry, kinds in entries.items():
            if not isinstance(stored[key].get(entry), kinds):
                raise ValueError(f"{path}: {key}.{entry} is missing or of the wrong type")
    try:
        make_config(stored["model"]["preset"], **stored["model"]["overrides"])
        TrainConfig.from_dict(stored["train"])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return stored


@contextmanager
def _naming_data(name: str) -> Iterator[None]:
    """Say which data set a likelihood cannot score (the model only sees the values)."""
    try:
        yield
    except OutOfSupportError as err:
        raise OutOfSupportError(f"data set {name!r} cannot be scored: {err}") from None


def _stream(spec: dict[str, Any], seed: int):
    stream = gdata.train_stream(spec["data"]["name"], seed=seed, root=spec["data"]["root"])
    if spec["data"].get("overfit"):  # one fixed example in every batch slot
        return gdata.TensorStream(stream.batch(0, 1), seed=seed)
    return stream


def _sample_fn(example_shape: tuple[int, ...], seed: int):
    size = tuple(example_shape[-2:])
    video = len(example_shape) == 4  # (T, C, H, W)

    def draw(model: torch.nn.Module) -> torch.Tensor:
        generator = torch.Generator(device=model.device).manual_seed(seed)
        if video:  # a few short unconditional videos: sampling video is slow
            return model.sample(SAMPLE_VIDEOS, size, steps=SAMPLE_STEPS, generator=generator)
        return model.sample(SAMPLE_GRID, size, generator=generator)

    return draw


def _fit(spec: dict[str, Any], config: TrainConfig, run_dir: Path, *, resume: bool) -> FitResult:
    seed_everything(config.seed)  # the initial weights are a function of the seed
    model = _model_from_spec(spec)
    stream = _stream(spec, config.seed)
    sample_fn = _sample_fn(stream.example_shape, config.seed) if config.sample_every else None
    with _naming_data(spec["data"]["name"]):
        return fit(model, stream, config, run_dir, spec=spec, sample_fn=sample_fn, resume=resume)


def start_run(
    preset: str,
    overrides: dict[str, Any],
    data_name: str | None,
    root: str | None,
    run_dir: Path,
    train_options: dict[str, Any],
    *,
    overfit: bool = False,
) -> FitResult:
    """Train `preset` from scratch into `run_dir` (which must not hold a checkpoint yet; a run
    that failed before its first checkpoint is replaced).

    `overfit` trains on the data set's first example only (a correctness check).
    """
    config = TrainConfig(**train_options)
    spec = {
        "model": {
            "preset": preset,
            "overrides": overrides,
            "config": dataclasses.asdict(make_config(preset, **overrides)),
        },
        "data": {"name": data_name or get_preset(preset).data, "root": root, "overfit": overfit},
    }
    _stream(spec, config.seed)  # fail on missing data before anything is written
    return _fit(spec, config, run_dir, resume=False)


def resume_run(run_dir: Path, train_options: dict[str, Any]) -> FitResult:
    """Continue the run in `run_dir`; options given replace the stored ones (e.g. `steps`).

    A run that holds a config but no checkpoint yet starts from step 0 with that config.
    """
    stored = _read_spec(run_dir)
    config = TrainConfig.from_dict({**stored["train"], **train_options})
    spec = {key: value for key, value in stored.items() if key != "train"}
    return _fit(spec, config, run_dir, resume=True)


def load_run_model(run_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict, int]:
    """The model of `run_dir` with its last checkpoint's weights (and that checkpoint's step)."""
    spec = _read_spec(run_dir)
    model = _model_from_spec(spec)
    step = load_checkpoint(run_dir, model).step
    return model.to(device).eval(), spec, step


def _data_label(name: str) -> str:
    if name in ("moving-mnist", "moving-mnist-stochastic"):
        return f"{name} (regenerated from MNIST-test, seed {gdata.TEST_SET_SEED})"
    return name


def report_name(name: str, split: str, limit: int | None, spec: dict[str, Any]) -> str:
    """`eval.json` for the run's own full evaluation; any other gets a name that says what it
    is (`eval-limit8.json`, `eval-valid.json`, `eval-mnist-test.json`), so a quick check never
    replaces the full result."""
    parts = []
    if name != spec["data"]["name"]:
        parts.append(re.sub(r"[^A-Za-z0-9_.]+", "_", Path(name).stem))
    if split != gdata.default_split(spec["data"]["name"]) or parts:
        parts.append(split)
    if limit is not None:
        parts.append(f"limit{limit}")
    return "-".join(["eval", *parts]) + ".json"


def evaluate_run(
    run_dir: Path,
    *,
    split: str | None = None,
    data_name: str | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    out: Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """Exact NLL of the run's model on a data split; writes the report and returns it with its
    path (`out`, or `RUN/eval.json` for the full default evaluation, see `report_name`)."""
    for option, value in (("--batch-size", batch_size), ("--limit", limit)):
        if value is not None and value < 1:
            raise ValueError(f"{option} must be >= 1, got {value}")
    torch_device = resolve_device(device)
    model, spec, step = load_run_model(run_dir, torch_device)
    name = data_name or spec["data"]["name"]
    split = split or gdata.default_split(name)
    path = out or run_dir / report_name(name, split, limit, spec)
    prepare_output(path)  # a read-only run fails now, not after the evaluation
    examples = gdata.eval_set(name, split, root=spec["data"]["root"], limit=limit)
    protocol = {
        "data": _data_label(name),
        "split": split,
        "first_n": limit,
        "seed": gdata.TEST_SET_SEED if name.startswith("moving-mnist") else None,
        "checkpoint_step": step,
        "precision": "fp32",
        "preset": spec["model"]["preset"],
        "overrides": spec["model"]["overrides"],
    }
    try:
        with _naming_data(name):
            report = _evaluate(model, examples, name, batch_size, torch_device)
    except NonFiniteResultError as err:
        raise NonFiniteResultError(f"{run_dir} (checkpoint step {step}): {err}") from None
    report["protocol"] = {**protocol, "count": report["count"]}
    text = json.dumps(report, indent=2)
    atomic_write(path, lambda handle: handle.write(text.encode()))
    return report, path


def _evaluate(model, examples: torch.Tensor, name: str, batch_size: int | None, device):
    if examples.dim() == 5:  # videos: frames 11-20 given 1-10
        gdata.check_frames(
            examples, context=CONTEXT_FRAMES, predicted=PREDICTED_FRAMES, source=name
        )
        figures = evaluate_video_nll(
            model,
            examples,
            context=CONTEXT_FRAMES,
            batch_size=batch_size or VIDEO_EVAL_BATCH,
            device=device,
            entropy_bound=model.likelihood.name == "soft_bernoulli",
        )
        units = "nats per predicted frame (summed over its C*H*W values)"
        report = {**figures, "units": {"nll_nats_per_frame": units}}
        report["paper_nats_per_frame"] = PAPER_NATS_PER_FRAME
        return report
    figures = evaluate_nll(
        model, examples, batch_size=batch_size or IMAGE_EVAL_BATCH, device=device
    )
    return {**figures, "units": {"nll_nats": "nats per image (summed over all dims)"}}


def _parse_size(size: str) -> tuple[int, int]:
    try:
        shape = tuple(int(side) for side in size.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"--size wants HxW such as 28x28, got {size!r}")
    return shape


def sample_run(
    run_dir: Path,
    out: Path,
    *,
    count: int = 16,
    seed: int = 0,
    size: str | None = None,
    steps: int = 10,
    fast: bool = True,
    device: str = "auto",
) -> Path:
    """Draw samples from the run's model and write them to `out`.

    Image models: `count` samples as a PNG grid. Video models: the first `count` test videos
    continued by `steps` frames after 10 context frames, as a GIF (context, ground truth and
    sample side by side) or a PNG grid (one video per row).
    """
    suffixes = (".png", ".gif")
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"--out must end in .png or .gif, got {out}")
    if count < 1:
        raise ValueError(f"--n must be >= 1, got {count}")
    prepare_output(out)  # before minutes of sampling, not after
    torch_device = resolve_device(device)
    model, spec, _ = load_run_model(run_dir, torch_device)
    generator = torch.Generator(device=torch_device).manual_seed(seed)
    example_shape = _stream(spec, 0).example_shape
    if len(example_shape) == 4:  # video (T, C, H, W)
        return _continue_videos(model, spec, out, count, steps, generator, fast)
    if out.suffix.lower() == ".gif":
        raise ValueError("image models write .png grids; use --out FILE.png")
    shape = _parse_size(size) if size else tuple(example_shape[-2:])
    images = model.sample(count, shape, generator=generator, fast=fast, progress=True)
    return save_image_grid(images, out)


def _continue_videos(model, spec, out: Path, count: int, steps: int, generator, fast: bool):
    if not 1 <= steps:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    videos = gdata.eval_set(spec["data"]["name"], "test", root=spec["data"]["root"], limit=count)
    gdata.check_frames(videos, context=CONTEXT_FRAMES, predicted=steps, source=spec["data"]["name"])
    context = videos[:, :CONTEXT_FRAMES]
    truth = videos[:, CONTEXT_FRAMES : CONTEXT_FRAMES + steps]
    samples = model.sample(
        context=context.to(model.device),
        steps=steps,
        generator=generator,
        fast=fast,
        progress=True,
    ).cpu()
    if out.suffix.lower() == ".gif":
        return save_video_gif(context, truth, samples, out)
    rows = torch.cat([context, samples], dim=1)  # (B, 10 + K, C, H, W): one video per row
    return save_image_grid(rows.flatten(0, 1), out, nrow=rows.shape[1])


def write_moving_mnist_file(out: Path, sequences: int, *, seed: int, stochastic: bool) -> str:
    """Regenerate Moving MNIST from MNIST-test digits into `out`; returns a one-line summary."""
    if sequences < 1:
        raise ValueError(f"--sequences must be >= 1, got {sequences}")
    return gdata.write_regenerated_test_set(out, sequences, seed=seed, stochastic=stochastic)


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
