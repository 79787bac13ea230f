"""Run directories: start, resume, evaluate and sample a run (what the CLI subcommands do).

A run directory is self-describing (`docs/design.md`): `config.json` holds the preset, its
overrides and the data description, so every later command rebuilds the same model and data
from the directory alone. A command resolves its run once, into a `Run` (`Run.new` from a
preset and options, `Run.load` from a directory), and reads everything from that.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genvid import data as gdata
from genvid.atomic import atomic_write, prepare_output
from genvid.autoregressive.evaluate import NonFiniteResultError
from genvid.nn.likelihoods import OutOfSupportError
from genvid.presets import Preset, get_preset, make_config
from genvid.protocols import Protocol
from genvid.protocols.base import SampleRequest, options_for
from genvid.train import (
    FitResult,
    Stream,
    TrainConfig,
    Update,
    fit,
    load_checkpoint,
    read_run_config,
    seed_everything,
)
from genvid.train.checkpoint import is_pretrained, load_model_weights
from genvid.train.distributed import resolve_device

# What config.json must hold besides "train": key -> {entry: allowed types}.
_SPEC_SHAPE = {
    "model": {"preset": (str,), "overrides": (dict,)},
    "data": {"name": (str,), "root": (str, type(None))},
}
# Training options a retrained sweep trial does not keep: its budget and its intervals.
_TRIAL_ONLY = ("steps", "checkpoint_every", "log_every", "sample_every")


@dataclass(frozen=True)
class DataSpec:
    """A run's training data, as config.json's "data" holds it."""

    name: str  # a `genvid.data` registry name, or the path of a Moving MNIST .npy file
    root: str | None = None  # where the user's data live (None: the default place)
    overfit: bool = False  # the data set's first example in every batch slot
    holdout: bool = False  # without what the data's "valid" split is made of (sweep trials)


@dataclass(frozen=True, kw_only=True)
class Run:
    """A run resolved once: its preset, model config, training config, data and protocol.

    `record` is config.json's "model" and "data" as `fit` stores them and, on resume, compares
    them with the stored ones: made here for a new run, kept as read for a stored one (so a
    directory an older release wrote, without "overfit" or "holdout", resumes unchanged).
    """

    preset: Preset
    overrides: dict[str, Any]  # the fields of the preset's model config the run changes
    config: Any  # the model config: the preset's with `overrides`
    train: TrainConfig
    data: DataSpec
    record: dict[str, Any]

    @classmethod
    def new(
        cls,
        preset: str,
        *,
        overrides: dict[str, Any] | None = None,
        data: str | None = None,
        root: str | None = None,
        train: dict[str, Any] | None = None,
        overfit: bool = False,
        holdout: bool = False,
    ) -> Run:
        """A fresh run of `preset` on `data` (default: the preset's own); the `train` options
        win over the preset's recipe (`Preset.train`). Reads no data."""
        found = get_preset(preset)
        overrides = overrides or {}
        train_config = TrainConfig(**{**found.train, **(train or {})})
        config = make_config(preset, **overrides)
        spec = DataSpec(data or found.data, root, overfit=overfit, holdout=holdout)
        record = {
            "model": {
                "preset": preset,
                "overrides": overrides,
                "config": dataclasses.asdict(config),
            },
            "data": dataclasses.asdict(spec),
        }
        return cls(
            preset=found,
            overrides=overrides,
            config=config,
            train=train_config,
            data=spec,
            record=record,
        )

    @classmethod
    def load(cls, run_dir: Path, *, train: dict[str, Any] | None = None) -> Run:
        """The run in `run_dir`, from its config.json, checked so that a damaged or hand-edited
        file fails in one line naming it; `train` options replace the stored ones."""
        stored = read_run_config(run_dir)
        path = run_dir / "config.json"
        for key, entries in {**_SPEC_SHAPE, "train": {}}.items():
            if not isinstance(stored.get(key), dict):
                raise ValueError(f"{path} is not a genvid run config: it has no {key!r} object")
            for entry, kinds in entries.items():
                if not isinstance(stored[key].get(entry), kinds):
                    raise ValueError(f"{path}: {key}.{entry} is missing or of the wrong type")
        model, data = stored["model"], stored["data"]
        try:
            config = make_config(model["preset"], **model["overrides"])
            train_config = TrainConfig.from_dict(stored["train"])
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        if train:
            train_config = TrainConfig.from_dict({**stored["train"], **train})
        found = get_preset(model["preset"])
        spec = DataSpec(
            data["name"],
            data["root"],
            overfit=data.get("overfit", False),
            holdout=data.get("holdout", False),
        )
        record = {key: value for key, value in stored.items() if key != "train"}
        return cls(
            preset=found,
            overrides=model["overrides"],
            config=config,
            train=train_config,
            data=spec,
            record=record,
        )

    @property
    def protocol(self) -> Protocol:
        """How the run is evaluated and sampled: its preset's protocol for its model config."""
        return self.preset.protocol(self.config)

    @property
    def frame_size(self) -> tuple[int, int]:
        """Height and width of the training data's images or frames (the data are not read)."""
        return gdata.frame_size(self.data.name)

    def build_model(self) -> nn.Module:
        """The model, its weights drawn from torch's generator."""
        return self.preset.build(self.config)

    def build_update(self) -> Update:
        """What one training step does (a fresh one: an update may keep state)."""
        return self.preset.update(self.config)

    def stream(self) -> Stream:
        """The training stream: this reads the data."""
        seed = self.train.seed
        stream = gdata.train_stream(
            self.data.name, seed=seed, root=self.data.root, holdout=self.data.holdout
        )
        if self.data.overfit:  # one fixed example in every batch slot
            return gdata.TensorStream(stream.batch(0, 1), seed=seed)
        return stream


@contextmanager
def _naming_data(name: str) -> Iterator[None]:
    """Say which data set a likelihood cannot score (the model only sees the values)."""
    try:
        yield
    except OutOfSupportError as err:
        raise OutOfSupportError(f"data set {name!r} cannot be scored: {err}") from None


def _fit(run: Run, run_dir: Path, *, resume: bool, stop_at: int | None) -> FitResult:
    seed_everything(run.train.seed)  # the initial weights are a function of the seed
    model = run.build_model()
    stream = run.stream()  # before anything is written: missing data fail here
    sample_fn = (
        run.protocol.training_sampler(stream, run.train.seed) if run.train.sample_every else None
    )
    update = run.build_update()
    with _naming_data(run.data.name):
        return fit(
            model,
            stream,
            run.train,
            run_dir,
            spec=run.record,
            sample_fn=sample_fn,
            resume=resume,
            update=update,
            stop_at=stop_at,
        )


def start_run(run: Run, run_dir: Path, *, stop_at: int | None = None) -> FitResult:
    """Train `run` from scratch into `run_dir` (which must not hold a checkpoint yet; a run
    that failed before its first checkpoint is replaced).

    `stop_at` stops (checkpointed) before `steps`, for a later resume.
    """
    return _fit(run, run_dir, resume=False, stop_at=stop_at)


def resume_run(
    run_dir: Path, train_options: dict[str, Any], *, stop_at: int | None = None
) -> FitResult:
    """Continue the run in `run_dir`; options given replace the stored ones (e.g. `steps`).

    A run that holds a config but no checkpoint yet starts from step 0 with that config.
    """
    return _fit(Run.load(run_dir, train=train_options), run_dir, resume=True, stop_at=stop_at)


def start_from_trial(trial_dir: Path, run_dir: Path, train_options: dict[str, Any]) -> FitResult:
    """Train a sweep trial's configuration afresh into `run_dir` on all the training data
    (the trial held out its validation split); `train_options` (e.g. a longer `steps`) win
    over the trial's, whose budget, checkpoint and logging intervals are not kept."""
    trial = Run.load(trial_dir)
    kept = {
        key: value
        for key, value in dataclasses.asdict(trial.train).items()
        if key not in _TRIAL_ONLY
    }
    run = Run.new(
        trial.preset.name,
        overrides=trial.overrides,
        data=trial.data.name,
        root=trial.data.root,
        train={**kept, **train_options},
    )
    return start_run(run, run_dir)


def load_run_model(run_dir: Path, device: torch.device) -> tuple[nn.Module, Run, int]:
    """The run in `run_dir`, its model with its last checkpoint's weights, and that
    checkpoint's step (a shipped model's directory: its weights, it has no training state)."""
    run = Run.load(run_dir)
    model = run.build_model()
    if is_pretrained(run_dir):
        step = load_model_weights(run_dir, model)
    else:
        step = load_checkpoint(run_dir, model).step
    return model.to(device).eval(), run, step


def report_name(
    run: Run, *, data: str, split: str, limit: int | None, samples: int | None = None
) -> str:
    """`eval.json` for the run's own full evaluation; any other gets a name that says what it
    is (`eval-limit8.json`, `eval-valid.json`, `eval-mnist-test.json`, `eval-samples2.json`
    for a number of samples other than the protocol's), so a quick check never replaces the
    full result."""
    parts = []
    if data != run.data.name:
        parts.append(re.sub(r"[^A-Za-z0-9_.]+", "_", Path(data).stem))
    if split != gdata.default_split(run.data.name) or parts:
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
) -> tuple[dict[str, Any], list[str], Path | None]:
    """Evaluate the run by its preset's protocol; write the report and return it, the lines
    that summarise it, and its path (`out`, or `RUN/eval.json` for the full default
    evaluation, see `report_name`; None for a shipped model without `out`: nothing is ever
    written into the package)."""
    for option, value in (("--batch-size", batch_size), ("--limit", limit)):
        if value is not None and value < 1:
            raise ValueError(f"{option} must be >= 1, got {value}")
    torch_device = resolve_device(device)
    model, run, step = load_run_model(run_dir, torch_device)
    name = data_name or run.data.name
    split = split or gdata.default_split(name)
    judge = run.protocol
    # a --samples equal to the protocol's own is the full evaluation; another is named
    other_samples = samples if samples != getattr(judge, "samples", samples) else None
    path = out
    if path is None and not is_pretrained(run_dir):
        path = run_dir / report_name(
            run, data=name, split=split, limit=limit, samples=other_samples
        )
    if path is not None:
        prepare_output(path)  # a read-only run fails now, not after the evaluation
    examples = gdata.eval_set(name, split, root=run.data.root, limit=limit)
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
        "data": gdata.eval_set_label(name, split),
        "split": split,
        "first_n": limit,
        "count": report["count"],
        "seed": gdata.eval_set_seed(name, split),
        "checkpoint_step": step,
        "precision": "fp32",
        "preset": run.preset.name,
        "overrides": run.overrides,
    }
    if path is not None:
        text = json.dumps(report, indent=2)
        atomic_write(path, lambda handle: handle.write(text.encode()))
    return report, judge.summary(report), path


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
    device: str = "auto",
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Draw samples from the run's model as its preset's protocol says and write them to `out`
    (image models: a PNG grid; video models: continued test videos or clips, GIF or PNG grid:
    the protocol's `sample_formats`).

    `options` are the sampler options given, by their command-line names (`temperature`,
    `complete`, ...): the protocol's `sampler_options` declares which it takes."""
    if out.suffix.lower() not in (".png", ".gif"):
        raise ValueError(f"--out must end in .png or .gif, got {out}")
    if count < 1:
        raise ValueError(f"--n must be >= 1, got {count}")
    torch_device = resolve_device(device)
    model, run, _ = load_run_model(run_dir, torch_device)
    formats = run.protocol.sample_formats
    if out.suffix.lower() not in formats:
        raise ValueError(f"this model writes {' or '.join(formats)} samples; got --out {out}")
    prepare_output(out)  # before minutes of sampling, not after
    request = SampleRequest(
        out=out,
        count=count,
        steps=steps,
        size=_parse_size(size) if size else None,
        data_size=None if size else run.frame_size,
        generator=torch.Generator(device=torch_device).manual_seed(seed),
        options=options_for(run.protocol, options or {}),
    )

    def test_videos(n: int) -> torch.Tensor:
        name = run.data.name
        return gdata.eval_set(name, gdata.default_split(name), root=run.data.root, limit=n)

    return run.protocol.sample(model, request, test_videos)
