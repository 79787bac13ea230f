"""Search spaces: what a sweep varies, parsed and checked before any trial starts.

A parameter is written `NAME=DIST`, on the command line (`--param lr=loguniform:1e-4:1e-2`)
or in a TOML file (`[params]` with the same strings, and `[set]` for fixed model-config
overrides):

    loguniform:LOW:HIGH   float, log scale (LOW > 0)
    uniform:LOW:HIGH      float
    int:LOW:HIGH          integer, both ends included (int-log:LOW:HIGH on a log scale)
    choice:A,B,...        one of the values, parsed as the field's type

NAME is a field of the preset's model config (`hidden_channels`, `gp_weight`, `n_critic`,
`instance_noise`, ...) or a training option of `TrainConfig` (`lr`, `batch_size`,
`weight_decay`, ...). Both ends of every range (and every choice) are built into a config
before the sweep starts, so a value the model would refuse fails now, in one line.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genvid.configcheck import parse_field_value
from genvid.presets import make_config
from genvid.train import TrainConfig

KINDS = ("loguniform", "uniform", "int", "int-log", "choice")
# Training options a sweep owns (its budget, its devices, its bookkeeping): never searched.
NOT_SEARCHABLE = frozenset(
    {"steps", "device", "checkpoint_every", "log_every", "sample_every", "seed", "compile"}
)


@dataclass(frozen=True)
class Param:
    """One searched field: its distribution and where it goes (model config or training)."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple[Any, ...] = ()
    target: str = "model"  # "model" (a config override) or "train" (a TrainConfig field)

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial draws."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind in ("int", "int-log"):
            return trial.suggest_int(self.name, self.low, self.high, log=self.kind == "int-log")
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "loguniform")

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name}=choice:{','.join(map(str, self.choices))}"
        return f"{self.name}={self.kind}:{self.low}:{self.high}"


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]
    fixed: dict[str, Any]  # model-config overrides every trial gets

    def split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A trial's values -> (model overrides, training options)."""
        model = dict(self.fixed)
        train: dict[str, Any] = {}
        for param in self.params:
            (model if param.target == "model" else train)[param.name] = values[param.name]
        return model, train

    def describe(self) -> dict[str, Any]:
        """What the study stores to recognise its own space on a restart."""
        return {"params": [p.describe() for p in self.params], "fixed": self.fixed}


def parse_space(
    preset: str,
    params: tuple[str, ...] | list[str] = (),
    space_file: str | Path | None = None,
    fixed: dict[str, Any] | None = None,
) -> SearchSpace:
    """The checked search space of `preset` from `--param` strings and/or a TOML file.

    Raises `ValueError` naming the first bad parameter (unknown field, bad distribution or
    range, a value the config refuses).
    """
    texts, fixed = list(params), dict(fixed or {})
    if space_file is not None:
        file_params, file_fixed = _read_space_file(Path(space_file))
        texts = file_params + texts
        fixed = {**file_fixed, **fixed}
    if not texts:
        raise ValueError("a sweep needs at least one --param NAME=DIST (or a --space file)")
    parsed = [_parse_param(preset, text) for text in texts]
    names = [p.name for p in parsed]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ValueError(f"--param {duplicate} is given twice")
    overlap = sorted(set(names) & set(fixed))
    if overlap:
        raise ValueError(f"{overlap[0]} is both searched and fixed (--set)")
    make_config(preset, **fixed)
    for param in parsed:
        _check_values(preset, param, fixed)
    return SearchSpace(tuple(parsed), fixed)


def _read_space_file(path: Path) -> tuple[list[str], dict[str, Any]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the space file {path}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path} is not valid TOML: {err}") from None
    unknown = sorted(set(data) - {"params", "set"})
    if unknown:
        raise ValueError(f"{path}: unknown table [{unknown[0]}]; use [params] and [set]")
    params = data.get("params", {})
    bad = next((k for k, v in params.items() if not isinstance(v, str)), None)
    if bad:
        raise ValueError(f'{path}: params.{bad} must be a string such as "loguniform:1e-4:1e-2"')
    return [f"{k}={v}" for k, v in params.items()], dict(data.get("set", {}))


def _parse_param(preset: str, text: str) -> Param:
    name, sep, dist = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--param wants NAME=DIST such as lr=loguniform:1e-4:1e-2, got {text!r}")
    kind, _, rest = dist.partition(":")
    if kind not in KINDS:
        raise ValueError(f"--param {name}: unknown distribution {kind!r}; use {', '.join(KINDS)}")
    config = make_config(preset)
    model_fields = {f.name: type(getattr(config, f.name)) for f in dataclasses.fields(config)}
    train_defaults = TrainConfig()
    train_fields = {
        f.name: type(getattr(train_defaults, f.name)) for f in dataclasses.fields(TrainConfig)
    }
    if name in model_fields:
        target, field_type = "model", model_fields[name]
    elif name in train_fields and name not in NOT_SEARCHABLE:
        target, field_type = "train", train_fields[name]
    else:
        raise ValueError(
            f"--param {name}: not a field of {preset}'s config nor a searchable training option"
        )
    if kind == "choice":
        values = tuple(
            parse_field_value(f"--param {name}", v, field_type) for v in rest.split(",") if v != ""
        )
        if not values:
            raise ValueError(f"--param {name}: choice needs at least one value")
        return Param(name, kind, choices=values, target=target)
    ends = rest.split(":")
    if len(ends) != 2:
        raise ValueError(f"--param {name}: {kind} wants LOW:HIGH, got {rest!r}")
    integer = kind in ("int", "int-log")
    try:
        low, high = (int(e) if integer else float(e) for e in ends)
    except ValueError:
        kinds = "integers" if integer else "numbers"
        raise ValueError(f"--param {name}: {rest!r} are not two {kinds}") from None
    if not low < high:
        raise ValueError(f"--param {name}: LOW must be below HIGH, got {low} and {high}")
    if kind in ("loguniform", "int-log") and low <= 0:
        raise ValueError(f"--param {name}: a log scale needs LOW > 0, got {low}")
    if integer != (field_type is int):
        raise ValueError(f"--param {name} is a {field_type.__name__} field; {kind} does not fit")
    return Param(name, kind, low, high, target=target)


def _check_values(preset: str, param: Param, fixed: dict[str, Any]) -> None:
    """Build the config at both ends of the range (every choice): a bad value fails now."""
    values = param.choices if param.kind == "choice" else (param.low, param.high)
    for value in values:
        try:
            if param.target == "model":
                make_config(preset, **{**fixed, param.name: value})
            else:
                TrainConfig(**{param.name: value})
        except (ValueError, TypeError) as err:
            raise ValueError(f"--param {param.name}: {value!r} is refused: {err}") from None
