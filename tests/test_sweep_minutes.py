"""`genvid sweep --budget-minutes`: every trial trains as many steps as fit in the same time."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import matplotlib.pyplot as plt
import optuna
import pytest
from cli_runner import run

import genvid.sweep.study as study_module
from genvid import runs
from genvid.sweep import Sweep, check_trial_to_retrain, parse_space, run_sweep, sweep_report
from genvid.sweep.storage import STUDY, default_url, open_storage
from genvid.sweep.study import (
    CALIBRATION_STEPS,
    CALIBRATION_WARMUP,
    _lock_path,
    _open_study,
    seconds_per_step,
)
from genvid.train import FitResult

TINY = {"hidden_channels": 4, "num_layers": 1, "output_channels": 4}
TRAIN = {"batch_size": 8, "device": "cpu"}
MINUTES = 0.05  # 3 s of training per trial
ARGS = ["sweep", "pixelcnn-mnist", "--trials", "1", "--param", "lr=loguniform:1e-3:1e-1"]
ARGS += [f"--set={k}={v}" for k, v in TINY.items()]
ARGS += ["--rungs", "2", "--batch-size", "8", "--valid-limit", "16"]


def timed_sweep(trials: int = 2, params=("lr=loguniform:1e-3:1e-1",), **kwargs) -> Sweep:
    searched = {param.partition("=")[0] for param in params}
    fixed = {k: v for k, v in TINY.items() if k not in searched}
    space = parse_space("pixelcnn-mnist", list(params), fixed=fixed)
    options = dict(budget_minutes=MINUTES, rungs=3, train=TRAIN, valid_limit=16)
    return Sweep("pixelcnn-mnist", space, trials=trials, **{**options, **kwargs})


def study_of(out):
    return optuna.load_study(study_name=STUDY, storage=open_storage(default_url(out)))


def seconds_of(config) -> float:
    """A stand-in speed: a model twice as wide takes twice as long per step."""
    return config.hidden_channels / 32


@pytest.fixture
def known_speed(monkeypatch):
    """Replace the measurement by `seconds_of` the trial's own configuration."""

    def measured(new_run, scratch):
        return seconds_of(new_run(CALIBRATION_WARMUP).config)

    monkeypatch.setattr(study_module, "seconds_per_step", measured)


def test_each_trial_trains_the_steps_that_fit_its_budget_at_its_own_speed(
    tmp_path, known_speed, capsys
):
    """Two fast trials of a good lr, then a slow one of a useless lr: the slow one has half
    the steps, and is pruned at its first rung against the others' first rung (reported at
    step 4 it would have had no trial to be compared with: theirs are at step 8)."""
    definition = timed_sweep(
        trials=3, params=("lr=loguniform:1e-9:1e-1", "hidden_channels=int:4:8")
    )
    (tmp_path / "trials").mkdir(parents=True)
    study = _open_study(definition, tmp_path, default_url(tmp_path))
    for lr, width in ((3e-2, 4), (3e-2, 4), (1e-9, 8)):
        study.enqueue_trial({"lr": lr, "hidden_channels": width})
    run_sweep(definition, tmp_path)

    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    for trial in trials:
        seconds = seconds_of(runs.Run.load(tmp_path / "trials" / f"{trial.number:04d}").config)
        steps = math.floor(MINUTES * 60 / seconds)
        assert trial.user_attrs["seconds_per_step"] == seconds
        assert trial.user_attrs["steps"] == steps
        run_dir = tmp_path / "trials" / f"{trial.number:04d}"
        assert json.loads((run_dir / "config.json").read_text())["train"]["steps"] == steps
        evaluated = sorted(int(p.stem.rsplit("step")[-1]) for p in run_dir.glob("eval-valid-*"))
        rungs = len(trial.intermediate_values)
        assert evaluated == [steps * k // 3 for k in range(1, rungs + 1)]
    assert [t.user_attrs["steps"] for t in trials] == [24, 24, 12]
    assert list(trials[0].intermediate_values) == [1, 2, 3]
    assert list(trials[2].intermediate_values) == [1]

    stored = study_of(tmp_path).user_attrs["definition"]
    assert stored["budget_minutes"] == MINUTES and stored["budget_steps"] is None
    colours = plt.rcParams["axes.prop_cycle"]
    report, plots = sweep_report(tmp_path)
    assert plots and plt.rcParams["axes.prop_cycle"] == colours  # Optuna's style kept to its plots
    table = report[report.index("") + 1 :]
    assert table[0] == "| trial | state | value | rung | steps | s/step | hidden_channels | lr |"
    assert table[2].startswith("| 0 | complete |") and "| 3 | 24 | 0.125 | 4 |" in table[2]
    assert "| 1 | 12 | 0.25 | 8 |" in table[4]

    capsys.readouterr()
    check_trial_to_retrain(tmp_path / "trials" / "0002")
    assert "was pruned at rung 1 " in capsys.readouterr().err


def test_a_budget_below_the_rungs_still_trains_one_step_per_rung(tmp_path, monkeypatch):
    monkeypatch.setattr(study_module, "seconds_per_step", lambda new_run, scratch: 60.0)
    run_sweep(timed_sweep(trials=1), tmp_path)
    (trial,) = study_of(tmp_path).trials
    assert trial.state.name == "COMPLETE" and trial.user_attrs["steps"] == 3
    stored = json.loads((tmp_path / "trials/0000/config.json").read_text())
    assert stored["train"]["steps"] == 3
    assert sorted(p.name for p in (tmp_path / "trials/0000").glob("eval-valid-*")) == [
        f"eval-valid-step{k}.json" for k in (1, 2, 3)
    ]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # a bare study.ask()
def test_a_killed_trials_measuring_runs_are_removed_when_it_is_marked_failed(tmp_path, known_speed):
    definition = timed_sweep(trials=1)
    (tmp_path / "trials").mkdir(parents=True)
    study = _open_study(definition, tmp_path, default_url(tmp_path))
    abandoned = study.ask()  # "running", as a worker SIGKILLed while it measured leaves it
    _lock_path(tmp_path, abandoned.number).touch()
    scratch = tmp_path / "trials" / f".calibrate-{abandoned.number:04d}"
    scratch.mkdir()
    (scratch / "config.json").write_text("{}")
    run_sweep(definition, tmp_path)
    assert [t.state.name for t in study_of(tmp_path).trials] == ["FAIL", "COMPLETE"]
    assert not scratch.exists()


def fake_fits(monkeypatch, walls: dict[int, float], fail_at: int | None = None) -> list[int]:
    """`runs.start_run` taking `walls[steps]` seconds, writing into its directory; the run of
    `fail_at` steps raises. Returns the step counts in the order they were started."""
    started = []

    def start_run(run, run_dir, *, stop_at=None):
        steps = run.train.steps
        started.append(steps)
        assert not run_dir.exists()  # each measuring run starts from scratch
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text("{}")
        if steps == fail_at:
            raise ValueError("the data are missing")
        return FitResult(steps, 1.0, walls[steps], 1.0)

    monkeypatch.setattr(runs, "start_run", start_run)
    return started


def new_run(steps: int) -> runs.Run:
    return runs.Run.new("pixelcnn-mnist", overrides=TINY, train={**TRAIN, "steps": steps})


def test_seconds_per_step_is_the_difference_of_two_fresh_runs(tmp_path, monkeypatch):
    longer = CALIBRATION_WARMUP + CALIBRATION_STEPS
    scratch = tmp_path / "trials" / ".calibrate-0000"
    started = fake_fits(monkeypatch, {longer: 5.0, CALIBRATION_WARMUP: 3.0})
    assert seconds_per_step(new_run, scratch) == 2.0 / CALIBRATION_STEPS
    assert started == [longer, CALIBRATION_WARMUP] and not scratch.exists()

    # Timer noise above K steps' cost: the longer run's mean step (an over-estimate).
    fake_fits(monkeypatch, {longer: 3.0, CALIBRATION_WARMUP: 3.5})
    assert seconds_per_step(new_run, scratch) == 3.0 / longer

    fake_fits(monkeypatch, {longer: 5.0}, fail_at=CALIBRATION_WARMUP)
    with pytest.raises(ValueError, match="the data are missing"):
        seconds_per_step(new_run, scratch)
    assert not scratch.exists()


def test_a_real_time_budget_sweep_measures_trains_and_cleans_up(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, stdout, err = run([*ARGS, "--budget-minutes", "0.02", "--out", out], capsys)
    assert code == 0, err
    assert stdout.startswith("trials: 1 complete")
    (trial,) = study_of(out).trials
    seconds, steps = trial.user_attrs["seconds_per_step"], trial.user_attrs["steps"]
    assert seconds > 0 and steps == max(2, math.floor(0.02 * 60 / seconds))
    stored = json.loads((out / "trials/0000/config.json").read_text())
    assert stored["train"]["steps"] == steps
    assert list(trial.intermediate_values) == [1, 2]
    assert sorted(p.name for p in (out / "trials").iterdir()) == [".0000.lock", "0000"]


@pytest.mark.parametrize(
    "budget",
    [[], ["--budget-steps", "4", "--budget-minutes", "1"]],
    ids=["neither", "both"],
)
def test_exactly_one_budget_is_a_usage_error(tmp_path, capsys, budget):
    out = tmp_path / "sweep"
    code, _, err = run([*ARGS, *budget, "--out", out], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "exactly one of --budget-steps and --budget-minutes" in err
    assert not out.exists()


def test_a_budget_of_minutes_must_be_positive(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, _, err = run([*ARGS, "--budget-minutes", "0", "--out", out], capsys)
    assert code == 2 and "--budget-minutes" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    for minutes in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="--budget-minutes must be a positive number"):
            timed_sweep(budget_minutes=minutes)


def test_the_sweep_definition_takes_exactly_one_budget():
    with pytest.raises(ValueError, match="exactly one of --budget-steps and --budget-minutes"):
        timed_sweep(budget_minutes=None)
    with pytest.raises(ValueError, match="exactly one of --budget-steps and --budget-minutes"):
        timed_sweep(budget_steps=4)
    stored = timed_sweep().definition()
    assert stored["budget_minutes"] == MINUTES and stored["budget_steps"] is None
    by_steps = replace(timed_sweep(), budget_minutes=None, budget_steps=4).definition()
    assert "budget_minutes" not in by_steps and by_steps["budget_steps"] == 4  # as stored before
