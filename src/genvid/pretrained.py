"""Models shipped inside the package: list them, read their cards, load them by name, and (for
the maintainer) export a finished run into the shipped layout.

A shipped model is a read-only run directory, `genvid/weights/NAME/`:

    config.json         the run's config.json as training wrote it (`runs.Run.load` reads it)
    model.safetensors   its weights: float32, or bfloat16 / float16 to stay small (loading
                        casts them to the model's float32 parameters); metadata: the step
    card.json           how it was trained and what it reaches (`CARD_FIELDS`)

It has no state.pt: a shipped model is evaluated and sampled, never resumed. So the commands
that take a run take it unchanged (`genvid eval pretrained:NAME`, `genvid sample
pretrained:NAME`), and an evaluation writes its report only where `--out` says, never into the
package (`runs.evaluate_run`).
"""

from __future__ import annotations

import json
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from genvid import runs
from genvid.train.checkpoint import CARD, CONFIG, WEIGHTS, is_pretrained

# Where the shipped models live: the package's own directory (pip installs it as files).
SHIPPED = Path(str(resources.files("genvid") / "weights"))
PREFIX = "pretrained:"  # how a command's RUN argument names a shipped model
STORAGE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_OPTIONAL_INT = (int, type(None))

# An evaluation a card records, by `runs.evaluate_run`'s options, and the command repeating it.
_EVALUATION = {
    "metric": (str,),  # the protocol's objective: a key of its report (nll_nats, ssim, fvd, ...)
    "value": (float,),
    "count": (int,),  # examples or sequences scored
    "data": (str,),  # the evaluation set, as the report names it
    "split": (str,),
    "limit": _OPTIONAL_INT,  # --limit: the first N examples (None: the whole split)
    "samples": _OPTIONAL_INT,  # --samples (None: the protocol's own)
    "seed": (int,),
    "device": (str,),
    "command": (str,),  # `genvid eval pretrained:NAME ...`, which gives `value`
    # the evaluation's whole report, as `genvid eval --out` writes it: the protocol's other
    # figures (PSNR beside SSIM, diversity beside FVD), intervals, baselines, per-step curves
    "report": (dict,),
}
# Every key of card.json and its types (a nested dict: an object's own keys).
CARD_FIELDS: dict[str, Any] = {
    "name": (str,),
    "preset": (str,),
    "overrides": (dict,),  # of the preset's model config
    "data": (str,),  # the training data set
    "steps": (int,),  # updates trained
    "batch_size": (int,),
    "precision": (str,),  # of training (evaluation is float32)
    "seed": (int,),
    "command": (str,),  # the command that trained it
    "wall_time_s": (float,),
    "hardware": (str,),  # what `wall_time_s` was measured on
    "storage_dtype": (str,),  # of the floats in model.safetensors (STORAGE_DTYPES)
    "figure": _EVALUATION,  # the headline figure
    # a small slice the test suite re-measures on the CPU, within `rel_tol` of `value`
    "check": {**_EVALUATION, "rel_tol": (float,)},
    "paper": (dict, type(None)),  # the paper's figure for this model, where known
    "baselines": (dict, type(None)),  # what simple baselines score, where known
    "test_command": (str,),
    "notes": (str,),
}
_EVAL_OPTIONS = ("split", "limit", "samples", "seed")  # a card's evaluation, as eval's flags


def names() -> list[str]:
    """The shipped models' names, sorted."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if _NAME.fullmatch(p.name) and is_pretrained(p))


def video_names() -> list[str]:
    """The shipped models that draw videos (their protocol writes GIFs), sorted: `make demo`
    ends with one GIF from each."""
    return [n for n in names() if ".gif" in runs.Run.load(SHIPPED / n).protocol.sample_formats]


def path(name: str) -> Path:
    """The directory of shipped model `name` (a run directory the commands take as it is)."""
    shipped = names()
    if name not in shipped:
        listed = f"shipped: {', '.join(shipped)}" if shipped else "none ship with genvid yet"
        raise ValueError(f"unknown pretrained model {name!r}; {listed}")
    return SHIPPED / name


def card(name: str) -> dict[str, Any]:
    """The card of shipped model `name`, checked (`CARD_FIELDS`)."""
    return read_card(path(name))


def read_card(directory: Path) -> dict[str, Any]:
    """DIRECTORY/card.json, checked; one line naming the file and the key if it is damaged."""
    file = directory / CARD
    try:
        found = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from None
    _check_card(found, file, directory.name)
    return found


def resolve(run: str) -> Path:
    """A command's RUN argument: a run directory, or `pretrained:NAME` (its card checked)."""
    if not run.startswith(PREFIX):
        return Path(run)
    name = run[len(PREFIX) :]
    card(name)
    return path(name)


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """Shipped model `name`: float32 parameters on `device`, in eval mode."""
    model, _, _ = runs.load_run_model(resolve(PREFIX + name), torch.device(device))
    return model


def figure_line(found: dict[str, Any]) -> str:
    """A card's figure in one line, e.g. "nll_nats 81.52 on 10000 binarized-mnist test
    examples (genvid eval pretrained:NAME --device cpu)"."""
    figure = found["figure"]
    return (
        f"{figure['metric']} {figure['value']:.6g} on {figure['count']} {figure['data']} "
        f"{figure['split']} examples ({figure['command']})"
    )


def export_pretrained(
    run_dir: Path,
    name: str,
    *,
    command: str,
    wall_time_s: float,
    hardware: str,
    dtype: str = "float32",
    figure: dict[str, Any] | None = None,
    check: dict[str, Any] | None = None,
    rel_tol: float = 1e-3,
    paper: dict[str, Any] | None = None,
    baselines: dict[str, Any] | None = None,
    notes: str = "",
    device: str = "cpu",
    out_dir: Path | None = None,
) -> Path:
    """Copy the finished run in `run_dir` into the shipped layout as OUT_DIR/NAME and write its
    card, with the figures the exported (cast) weights reach. Returns the new directory.

    Args:
        command, wall_time_s, hardware: how the run was trained (the card cannot know).
        dtype: storage of the weights' floats, "float32", "bfloat16" or "float16".
        figure: the headline evaluation's options (`split`, `limit`, `samples`, `seed`; none:
            the protocol's full evaluation), measured on `device`.
        check: a small slice's options (default: the first 64 examples), measured on the CPU;
            the test suite measures it again and wants it within `rel_tol` (relative).
        paper, baselines, notes: what the card says beside the figures.
        out_dir: default the package's weights directory (a source checkout's).
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"pretrained name {name!r}: wants lower-case letters, digits, . _ -")
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype {dtype!r}: wants one of {', '.join(STORAGE_DTYPES)}")
    figure = figure or {}
    check = {"limit": 64} if check is None else check
    for options in (figure, check):
        unknown = set(options) - set(_EVAL_OPTIONS)
        if unknown:
            raise ValueError(f"evaluation options {sorted(unknown)}: wants {_EVAL_OPTIONS}")
    out_dir = Path(out_dir) if out_dir is not None else SHIPPED
    final = out_dir / name
    if final.exists():
        raise ValueError(f"{final} exists; a shipped model is never replaced in place")
    model, run, step = runs.load_run_model(Path(run_dir), torch.device("cpu"))
    stage = out_dir / f".{name}.export"  # renamed to `final` once complete
    shutil.rmtree(stage, ignore_errors=True)  # left by an export that failed
    stage.mkdir(parents=True)
    try:
        safetensors.torch.save_file(
            _cast(model.state_dict(), dtype), stage / WEIGHTS, metadata={"step": str(step)}
        )
        shutil.copyfile(Path(run_dir) / CONFIG, stage / CONFIG)
        found = {
            "name": name,
            "preset": run.preset.name,
            "overrides": run.overrides,
            "data": run.data.name,
            "steps": step,
            "batch_size": run.train.batch_size,
            "precision": run.train.precision,
            "seed": run.train.seed,
            "command": command,
            "wall_time_s": float(wall_time_s),
            "hardware": hardware,
            "storage_dtype": dtype,
        }
        _write_card(stage, found)  # marks the stage a shipped model's: evaluation writes nothing
        metric = run.protocol.objective[0]
        found["figure"] = _evaluate(stage, name, metric, figure, device)
        found["check"] = {**_evaluate(stage, name, metric, check, "cpu"), "rel_tol": rel_tol}
        found.update(
            paper=paper,
            baselines=baselines,
            test_command=f"python -m pytest tests/test_pretrained.py -k {name}",
            notes=notes,
        )
        _check_card(found, final / CARD, name)
        _write_card(stage, found)
        stage.rename(final)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final


def _cast(weights: dict[str, torch.Tensor], dtype: str) -> dict[str, torch.Tensor]:
    """Floating tensors in `dtype` (integer buffers as they are); refuses an overflow."""
    cast = {}
    for key, tensor in weights.items():
        if tensor.is_floating_point():
            stored = tensor.detach().to(STORAGE_DTYPES[dtype])
            if not torch.isfinite(stored).all() and torch.isfinite(tensor).all():
                raise ValueError(f"weight {key!r} overflows {dtype}; export it as bfloat16")
            tensor = stored
        cast[key] = tensor.detach().cpu().contiguous()
    return cast


def _evaluate(
    stage: Path, name: str, metric: str, options: dict[str, Any], device: str
) -> dict[str, Any]:
    """The card's record of one evaluation of the exported weights."""
    report, _, _ = runs.evaluate_run(stage, device=device, **options)
    protocol = report["protocol"]
    flags = [f"--{key} {options[key]}" for key in _EVAL_OPTIONS if options.get(key) is not None]
    return {
        "metric": metric,
        "value": float(report[metric]),
        "count": protocol["count"],
        "data": protocol["data"],
        "split": protocol["split"],
        "limit": options.get("limit"),
        "samples": options.get("samples"),
        "seed": options.get("seed", 0),
        "device": device,
        "command": " ".join(["genvid eval", PREFIX + name, *flags, "--device", device]),
        "report": report,
    }


def _write_card(directory: Path, found: dict[str, Any]) -> None:
    (directory / CARD).write_text(json.dumps(found, indent=2) + "\n")


def _check_card(found: Any, file: Path, name: str) -> None:
    """One ValueError naming `file` and the key unless `found` has `CARD_FIELDS`' shape."""
    _check_object(found, CARD_FIELDS, file, "")
    if found["name"] != name:
        raise ValueError(f"{file}: name is {found['name']!r}, its directory {name!r}")
    if found["storage_dtype"] not in STORAGE_DTYPES:
        raise ValueError(f"{file}: storage_dtype wants one of {', '.join(STORAGE_DTYPES)}")


def _check_object(found: Any, fields: dict[str, Any], file: Path, prefix: str) -> None:
    if not isinstance(found, dict):
        raise ValueError(f"{file}: {prefix.rstrip('.') or 'the card'} is not a JSON object")
    unknown = sorted(found.keys() - fields.keys())
    if unknown:
        raise ValueError(f"{file}: unknown key {prefix}{unknown[0]}")
    for key, kinds in fields.items():
        if key not in found:
            raise ValueError(f"{file}: no {prefix}{key}")
        if isinstance(kinds, dict):
            _check_object(found[key], kinds, file, f"{prefix}{key}.")
        elif not _fits(found[key], kinds):
            wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise ValueError(f"{file}: {prefix}{key} is {found[key]!r}, wants {wanted}")


def _fits(value: Any, kinds: tuple[type, ...]) -> bool:
    """JSON's types: an integer is a float too, a boolean is no number."""
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)
