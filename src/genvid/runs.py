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

import numpy as np
import torch

from genvid import data as gdata
from genvid.atomic import atomic_write, prepare_output
from genvid.autoregressive.evaluate import NonFiniteResultError
from genvid.nn.likelihoods import OutOfSupportError
from genvid.presets import create, get_preset, make_config, protocol, update
from genvid.protocols import Protocol
from genvid.protocols.base import SampleRequest
from genvid.train import (
    FitResult,
    TrainConfig,
    fit,
    load_checkpoint,
    read_run_config,
    seed_everything,
)
from genvid.train.distributed import resolve_device
from genvid.viz import BASELINE_STYLES, plot_frame_prediction


def _model_from_spec(spec: dict[str, Any]) -> torch.nn.Module:
    return create(spec["model"]["preset"], **spec["model"]["overrides"])


def _protocol(spec: dict[str, Any]) -> Protocol:
    return protocol(spec["model"]["preset"], **spec["model"]["overrides"])


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
    stream = gdata.train_stream(
        spec["data"]["name"],
        seed=seed,
        root=spec["data"]["root"],
        holdout=spec["data"].get("holdout", False),
    )
    if spec["data"].get("overfit"):  # one fixed example in every batch slot
        return gdata.TensorStream(stream.batch(0, 1), seed=seed)
    return stream


def _fit(
    spec: dict[str, Any],
    config: TrainConfig,
    run_dir: Path,
    *,
    resume: bool,
    stop_at: int | None = None,
) -> FitResult:
    seed_everything(config.seed)  # the initial weights are a function of the seed
    model = _model_from_spec(spec)
    stream = _stream(spec, config.seed)
    sample_fn = (
        _protocol(spec).training_sampler(stream, config.seed) if config.sample_every else None
    )
    step = update(spec["model"]["preset"], **spec["model"]["overrides"])
    with _naming_data(spec["data"]["name"]):
        return fit(
            model,
            stream,
            config,
            run_dir,
            spec=spec,
            sample_fn=sample_fn,
            resume=resume,
            update=step,
            stop_at=stop_at,
        )


def start_run(
    preset: str,
    overrides: dict[str, Any],
    data_name: str | None,
    root: str | None,
    run_dir: Path,
    train_options: dict[str, Any],
    *,
    overfit: bool = False,
    holdout: bool = False,
    stop_at: int | None = None,
) -> FitResult:
    """Train `preset` from scratch into `run_dir` (which must not hold a checkpoint yet; a run
    that failed before its first checkpoint is replaced).

    `overfit` trains on the data set's first example only (a correctness check); `holdout`
    leaves out what the data's "valid" split is made of (a sweep's trials); `stop_at` stops
    (checkpointed) before `steps`, for a later resume. The preset's own training settings
    (`Preset.train`) apply where `train_options` say nothing.
    """
    config = TrainConfig(**{**get_preset(preset).train, **train_options})
    spec = {
        "model": {
            "preset": preset,
            "overrides": overrides,
            "config": dataclasses.asdict(make_config(preset, **overrides)),
        },
        "data": {
            "name": data_name or get_preset(preset).data,
            "root": root,
            "overfit": overfit,
            "holdout": holdout,
        },
    }
    _stream(spec, config.seed)  # fail on missing data before anything is written
    return _fit(spec, config, run_dir, resume=False, stop_at=stop_at)


def resume_run(
    run_dir: Path, train_options: dict[str, Any], *, stop_at: int | None = None
) -> FitResult:
    """Continue the run in `run_dir`; options given replace the stored ones (e.g. `steps`).

    A run that holds a config but no checkpoint yet starts from step 0 with that config.
    """
    stored = _read_spec(run_dir)
    config = TrainConfig.from_dict({**stored["train"], **train_options})
    spec = {key: value for key, value in stored.items() if key != "train"}
    return _fit(spec, config, run_dir, resume=True, stop_at=stop_at)


def start_from_trial(trial_dir: Path, run_dir: Path, train_options: dict[str, Any]) -> FitResult:
    """Train a sweep trial's configuration afresh into `run_dir` on all the training data
    (the trial held out its validation split); `train_options` (e.g. a longer `steps`) win
    over the trial's, whose budget, checkpoint and logging intervals are not kept."""
    stored = _read_spec(trial_dir)
    kept = {
        key: value
        for key, value in stored["train"].items()
        if key not in ("steps", "checkpoint_every", "log_every", "sample_every")
    }
    model = stored["model"]
    return start_run(
        model["preset"],
        model["overrides"],
        stored["data"]["name"],
        stored["data"]["root"],
        run_dir,
        {**kept, **train_options},
    )


def load_run_model(run_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict, int]:
    """The model of `run_dir` with its last checkpoint's weights (and that checkpoint's step)."""
    spec = _read_spec(run_dir)
    model = _model_from_spec(spec)
    step = load_checkpoint(run_dir, model).step
    return model.to(device).eval(), spec, step


def _data_label(name: str, split: str) -> str:
    if name in ("moving-mnist", "moving-mnist-stochastic"):
        digits = "MNIST-train digits 50,000-59,999" if split == "valid" else "MNIST-test"
        return f"{name} (regenerated from {digits}, seed {_regenerated_seed(name, split)})"
    return name


def report_name(
    name: str, split: str, limit: int | None, spec: dict[str, Any], samples: int | None = None
) -> str:
    """`eval.json` for the run's own full evaluation; any other gets a name that says what it
    is (`eval-limit8.json`, `eval-valid.json`, `eval-mnist-test.json`, `eval-samples2.json`
    for a number of samples other than the protocol's), so a quick check never replaces the
    full result."""
    parts = []
    if name != spec["data"]["name"]:
        parts.append(re.sub(r"[^A-Za-z0-9_.]+", "_", Path(name).stem))
    if split != gdata.default_split(spec["data"]["name"]) or parts:
        parts.append(split)
    if limit is not None:
        parts.append(f"limit{limit}")
    if samples is not None:
        parts.append(f"samples{samples}")
    return "-".join(["eval", *parts]) + ".json"


def evaluate_run(
    run_dir: Path,
    *,
    split: str | None = None,
    data_name: str | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    samples: int | None = None,
    seed: int = 0,
    device: str = "auto",
    out: Path | None = None,
) -> tuple[dict[str, Any], list[str], Path]:
    """Evaluate the run by its preset's protocol; write the report and return it, the lines
    that summarise it, and its path (`out`, or `RUN/eval.json` for the full default
    evaluation, see `report_name`)."""
    for option, value in (("--batch-size", batch_size), ("--limit", limit)):
        if value is not None and value < 1:
            raise ValueError(f"{option} must be >= 1, got {value}")
    torch_device = resolve_device(device)
    model, spec, step = load_run_model(run_dir, torch_device)
    name = data_name or spec["data"]["name"]
    split = split or gdata.default_split(name)
    judge = _protocol(spec)
    # a --samples equal to the protocol's own is the full evaluation; another is named
    other_samples = samples if samples != getattr(judge, "samples", samples) else None
    path = out or run_dir / report_name(name, split, limit, spec, other_samples)
    prepare_output(path)  # a read-only run fails now, not after the evaluation
    examples = gdata.eval_set(name, split, root=spec["data"]["root"], limit=limit)
    try:
        with _naming_data(name):
            report = judge.evaluate(
                model,
                examples,
                data=name,
                batch_size=batch_size,
                samples=samples,
                device=torch_device,
                seed=seed,
            )
    except NonFiniteResultError as err:
        raise NonFiniteResultError(f"{run_dir} (checkpoint step {step}): {err}") from None
    report["protocol"] = {
        "evaluator": judge.name,
        "data": _data_label(name, split),
        "split": split,
        "first_n": limit,
        "count": report["count"],
        "seed": _regenerated_seed(name, split),
        "checkpoint_step": step,
        "precision": "fp32",
        "preset": spec["model"]["preset"],
        "overrides": spec["model"]["overrides"],
    }
    text = json.dumps(report, indent=2)
    atomic_write(path, lambda handle: handle.write(text.encode()))
    return report, judge.summary(report), path


def _regenerated_seed(name: str, split: str) -> int | None:
    """The seed of a regenerated Moving MNIST evaluation set (None for sets read from files)."""
    if not name.startswith("moving-mnist"):
        return None
    return gdata.VALID_SET_SEED if split == "valid" else gdata.TEST_SET_SEED


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
    steps: int | None = None,
    fast: bool = True,
    compiled: bool = False,
    device: str = "auto",
    temperature: float = 1.0,
    complete: Path | None = None,
    mask: str | None = None,
) -> Path:
    """Draw samples from the run's model as its preset's protocol says and write them to `out`
    (image models: a PNG grid; video models: continued test videos, GIF or PNG grid).

    `temperature` divides an autoregressive model's logits; `complete` (a `.npy` of uint8
    images `[N, C, H, W]` or `[N, H, W]`) with `mask` ("top-half" or a `.npy` bool `[H, W]`)
    keeps those pixels and draws the rest of each image."""
    if not temperature > 0:
        raise ValueError(f"--temperature must be > 0, got {temperature}")
    if (complete is None) != (mask is None):
        raise ValueError("--complete FILE.npy and --mask go together")
    images, given = _completion(complete, mask) if complete is not None else (None, None)
    if out.suffix.lower() not in (".png", ".gif"):
        raise ValueError(f"--out must end in .png or .gif, got {out}")
    if count < 1:
        raise ValueError(f"--n must be >= 1, got {count}")
    prepare_output(out)  # before minutes of sampling, not after
    torch_device = resolve_device(device)
    model, spec, _ = load_run_model(run_dir, torch_device)
    request = SampleRequest(
        out=out,
        count=count,
        steps=steps,
        size=_parse_size(size) if size else None,
        data_size=None if size else tuple(_stream(spec, 0).example_shape[-2:]),
        generator=torch.Generator(device=torch_device).manual_seed(seed),
        fast=fast,
        compiled=compiled,
        temperature=temperature,
        complete=images,
        mask=given,
    )

    def test_videos(n: int) -> torch.Tensor:
        name = spec["data"]["name"]
        return gdata.eval_set(name, gdata.default_split(name), root=spec["data"]["root"], limit=n)

    return _protocol(spec).sample(model, request, test_videos)


def _completion(path: Path, mask: str) -> tuple[torch.Tensor, torch.Tensor]:
    """What to complete (uint8, 3 to 5 dimensions: the protocol says which it takes) and the
    bool `[H, W]` of given pixels."""
    images = _read_npy(path, "--complete")
    if images.dtype != np.uint8 or images.ndim not in (3, 4, 5):
        raise ValueError(
            f"--complete {path}: wants uint8 images [N, (C,) H, W] or videos [N, T, (C,) H, W], "
            f"got {images.dtype} {images.shape}"
        )
    if images.size == 0:
        raise ValueError(f"--complete {path} holds no images: shape {images.shape}")
    images = torch.from_numpy(images)
    height, width = images.shape[-2:]
    if mask == "top-half":
        given = torch.zeros(height, width, dtype=torch.bool)
        given[: height // 2] = True
    else:
        if not Path(mask).is_file():
            raise ValueError(
                f"--mask {mask}: no such mask or file; the named masks are: top-half (or give a "
                ".npy 0/1 array [H, W])"
            )
        array = _read_npy(Path(mask), "--mask")
        if array.shape != (height, width) or array.dtype.kind not in "biu":
            raise ValueError(
                f"--mask {mask}: wants top-half or a 0/1 array [{height}, {width}], got "
                f"{array.dtype} {array.shape}"
            )
        if not np.isin(array, (0, 1)).all():  # 1 = given; any other value is a mistake
            raise ValueError(
                f"--mask {mask}: wants 0 (drawn) or 1 (given), holds "
                f"{sorted(set(np.unique(array).tolist()) - {0, 1})[:3]}"
            )
        given = torch.from_numpy(array == 1)
    return images, given


def _read_npy(path: Path, option: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise ValueError(f"{option} {path} is not a readable .npy file: {err}") from None


def plot_runs(sources: list[Path], out: Path) -> Path:
    """SSIM and PSNR per step of several runs' frame-prediction reports on one figure.

    Each source is a run directory (its eval.json) or a report file; the legend names each by
    its preset (and directory, when two share a preset). The baselines (black frame, copy of
    the last given frame) are drawn once per data set, from the first report on it that has
    them; reports written before the baselines plot without.
    """
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must end in .png, got {out}")
    prepare_output(out)
    reports, baselines = {}, {}
    for source in sources:
        path = source / "eval.json" if source.is_dir() else source
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run `genvid eval {source}` first")
        try:
            report = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        if not isinstance(report, dict) or "ssim_per_step" not in report:
            raise ValueError(f"{path} holds no frame-prediction figures (SSIM/PSNR per step)")
        label = report.get("protocol", {}).get("preset", path.parent.name)
        reports[f"{label} ({path.parent.name})" if label in reports else label] = report
        if "baselines" in report:
            _check_baselines(report, path)
            data = report.get("protocol", {}).get("data", path.name)
            baselines.setdefault(f"{data}, {report.get('count')} sequences", report)
    if len(baselines) == 1:  # one data set: no need to name it in the legend
        baselines = {"": next(iter(baselines.values()))}
    return plot_frame_prediction(reports, out, baselines=baselines)


def _check_baselines(report: dict[str, Any], path: Path) -> None:
    """One-line ValueError naming `path` unless every baseline the plot draws has per-step
    SSIM and PSNR as long as the model's."""
    entries = report["baselines"]
    for name in BASELINE_STYLES:
        entry = entries.get(name) if isinstance(entries, dict) else None
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: baselines.{name} is missing or not an object")
        for metric in ("ssim", "psnr"):
            steps, expected = entry.get(f"{metric}_per_step"), report[f"{metric}_per_step"]
            if not (
                isinstance(steps, list)
                and isinstance(expected, list)
                and len(steps) == len(expected)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in steps)
            ):
                raise ValueError(
                    f"{path}: baselines.{name}.{metric}_per_step is not a list of "
                    f"{len(expected) if isinstance(expected, list) else 'per-step'} numbers"
                )
