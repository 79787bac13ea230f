"""`genvid sweep`: Optuna studies whose trials are ordinary runs judged on validation data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import optuna
import pytest
import torch
from click.testing import CliRunner

import genvid.data as gdata
from genvid import frechet
from genvid.cli import cli, main
from genvid.models.videogan import VideoGAN
from genvid.sweep import Sweep, parse_space, run_sweep, sweep_report
from genvid.sweep.storage import STUDY, default_url, open_storage
from genvid.sweep.study import _lock_path, _open_study

TINY = {"hidden_channels": 4, "num_layers": 1, "output_channels": 4}
TRAIN = {"batch_size": 8, "device": "cpu"}


def tiny_sweep(trials: int = 3, params=("lr=loguniform:1e-3:1e-1",), **kwargs) -> Sweep:
    space = parse_space("pixelcnn-mnist", list(params), fixed=TINY)
    options = dict(budget_steps=4, rungs=2, train=TRAIN, valid_limit=16)
    return Sweep("pixelcnn-mnist", space, trials=trials, **{**options, **kwargs})


def study_of(out):
    return optuna.load_study(study_name=STUDY, storage=open_storage(default_url(out)))


@pytest.fixture
def no_test_split(monkeypatch):
    """Fail any read of a test split: a sweep must never look at it."""
    real = gdata.eval_set

    def guarded(name, split="test", **kwargs):
        assert split != "test", f"a sweep read the test split of {name}"
        return real(name, split, **kwargs)

    monkeypatch.setattr(gdata, "eval_set", guarded)


def test_a_sweep_of_three_tiny_trials_writes_the_study_the_runs_and_the_report(
    tmp_path, no_test_split
):
    lines = run_sweep(tiny_sweep(), tmp_path)
    assert (tmp_path / "study.db").is_file()
    study = study_of(tmp_path)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 3
    for trial in study.trials:
        run = tmp_path / "trials" / f"{trial.number:04d}"
        stored = json.loads((run / "config.json").read_text())
        assert stored["data"]["holdout"] is True and stored["train"]["steps"] == 4
        assert stored["model"]["overrides"] == TINY
        assert stored["train"]["lr"] == pytest.approx(trial.params["lr"])
        assert (
            sorted(p.name for p in run.glob("eval-valid-step*.json"))[0] == "eval-valid-step2.json"
        )
        assert (run / "model.safetensors").is_file()
    assert lines[0].startswith("trials: ") and "best: trial" in lines[1]
    report, plots = sweep_report(tmp_path)
    table = report[report.index("") + 1 :]
    assert table[0].startswith("| trial | state | value | rung | lr |") and len(table) == 2 + 3
    assert {p.name for p in plots} == {"history.png", "importances.png", "slice.png"}
    assert all(p.stat().st_size > 1000 for p in plots)

    # The same command on a finished study runs nothing more.
    run_sweep(tiny_sweep(), tmp_path)
    assert len(study_of(tmp_path).trials) == 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # a bare study.ask()
def test_a_restarted_sweep_fails_the_abandoned_trial_and_finishes_the_rest(tmp_path):
    definition = tiny_sweep(trials=2)
    (tmp_path / "trials").mkdir(parents=True)
    study = _open_study(definition, tmp_path, default_url(tmp_path))
    abandoned = study.ask()  # "running", as a SIGKILLed worker leaves it; no one holds its lock
    _lock_path(tmp_path, abandoned.number).touch()
    run_sweep(definition, tmp_path)
    states = {t.number: t.state.name for t in study_of(tmp_path).trials}
    assert states[abandoned.number] == "FAIL"
    assert sorted(s for s in states.values() if s != "FAIL") in (
        ["COMPLETE"] * 2,
        ["COMPLETE", "PRUNED"],
    )
    assert len(states) == 3  # no trial was run twice


def test_a_sigkilled_sweep_started_again_finishes_without_repeating_a_trial(tmp_path):
    args = [sys.executable, "-m", "genvid.cli", "sweep", "pixelcnn-mnist", "--trials", "2"]
    args += ["--param", "lr=loguniform:1e-3:1e-1", "--budget-steps", "200", "--rungs", "2"]
    args += [f"--set={k}={v}" for k, v in TINY.items()]
    args += ["--batch-size", "8", "--valid-limit", "16", "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "trials/0000/config.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.kill()  # SIGKILL in the middle of trial 0's training
    process.wait()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    states = [t.state.name for t in study_of(tmp_path).trials]
    assert states[0] == "FAIL" and len(states) == 3
    assert sorted(states[1:]) in (["COMPLETE", "COMPLETE"], ["COMPLETE", "PRUNED"])


def test_two_workers_share_one_sqlite_study_with_distinct_trials(tmp_path):
    run_sweep(tiny_sweep(trials=4), tmp_path, workers=2)
    trials = study_of(tmp_path).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4  # a worker that asks for a fifth leaves it unrun
    assert all(t.user_attrs.get("surplus") for t in trials if t not in finished)
    assert len({t.number for t in trials}) == len(trials)
    dirs = {t.user_attrs["run_dir"] for t in finished}
    assert len(dirs) == len(finished)
    assert len({t.params["lr"] for t in finished}) == len(finished)  # distinct draws too


def test_a_trial_asked_for_after_another_worker_took_the_last_is_never_run(tmp_path, monkeypatch):
    """The race of two workers: between this worker's count and its ask, another one asks
    for the last missing trial (and runs it); this worker's trial is surplus."""
    definition = tiny_sweep(trials=1)
    real_ask = optuna.Study.ask
    others = []

    def ask_after_another_worker(study, *args, **kwargs):
        if not others:
            others.append(real_ask(study))  # "running" in the other worker
        return real_ask(study, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "ask", ask_after_another_worker)
    lines = run_sweep(definition, tmp_path)
    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["RUNNING", "FAIL"]
    assert trials[1].user_attrs["surplus"] and not trials[1].params
    assert not (tmp_path / "trials" / "0001").exists()  # no training started
    assert lines[0] == "trials: 1 running, 1 surplus"
    assert all("| 1 |" not in line for line in sweep_report(tmp_path)[0])


def test_a_second_sweep_command_on_one_study_draws_new_configurations(tmp_path):
    """Each trial's sampler is seeded by its number: a second command (a fresh process with
    the same --seed) must not repeat the first one's configurations."""
    run_sweep(tiny_sweep(trials=2), tmp_path)
    run_sweep(tiny_sweep(trials=4), tmp_path)
    lrs = [t.params["lr"] for t in study_of(tmp_path).trials]
    assert len(lrs) == 4 and len(set(lrs)) == 4


def test_the_pruner_stops_a_trial_worse_than_the_median(tmp_path):
    definition = tiny_sweep(trials=3, params=("lr=loguniform:1e-9:1e-1",), budget_steps=6, rungs=3)
    (tmp_path / "trials").mkdir(parents=True)
    study = _open_study(definition, tmp_path, default_url(tmp_path))
    for lr in (3e-2, 3e-2, 1e-9):  # the last one barely moves from its initial NLL
        study.enqueue_trial({"lr": lr})
    run_sweep(definition, tmp_path)
    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert list(trials[2].intermediate_values) == [2]  # stopped at its first rung


def test_a_trial_that_reaches_the_last_rung_completes_however_bad(tmp_path):
    definition = tiny_sweep(trials=3, params=("lr=loguniform:1e-9:1e-1",), budget_steps=4, rungs=1)
    (tmp_path / "trials").mkdir(parents=True)
    study = _open_study(definition, tmp_path, default_url(tmp_path))
    for lr in (3e-2, 3e-2, 1e-9):
        study.enqueue_trial({"lr": lr})
    run_sweep(definition, tmp_path)
    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert trials[2].value > max(trials[0].value, trials[1].value)  # the median pruner's case


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("nope=uniform:0:1", "not a field of pixelcnn-mnist's config"),
        ("lr=loguniform:0:1", "a log scale needs LOW > 0"),
        ("lr=uniform:1:0.5", "LOW must be below HIGH"),
        ("hidden_channels=int:0:8", "hidden_channels: 0 is refused"),
        ("hidden_channels=uniform:1:8", "int field; uniform does not fit"),
        ("likelihood=choice:bernoulli,poisson", "poisson"),
        ("steps=int:1:9", "not a field"),
        ("lr=normal:0:1", "unknown distribution 'normal'"),
    ],
)
def test_a_bad_search_space_fails_before_any_training_in_one_line(tmp_path, capsys, param, message):
    out = tmp_path / "sweep"
    args = ["sweep", "pixelcnn-mnist", "--trials", "2", "--budget-steps", "2"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--param", param, "--out", str(out)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_space_file_gives_params_and_fixed_overrides(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(
        '[params]\nlr = "loguniform:1e-4:1e-2"\nnum_layers = "int:1:3"\n'
        "[set]\nhidden_channels = 8\n"
    )
    space = parse_space("pixelcnn-mnist", ["output_channels=choice:4,8"], path)
    assert [p.name for p in space.params] == ["lr", "num_layers", "output_channels"]
    assert space.fixed == {"hidden_channels": 8}
    assert space.split({"lr": 0.1, "num_layers": 2, "output_channels": 4}) == (
        {"hidden_channels": 8, "num_layers": 2, "output_channels": 4},
        {"lr": 0.1},
    )


def test_a_sweep_needs_a_validation_split_and_moving_mnist_has_one_held_out():
    with pytest.raises(ValueError, match="pacman has none"):
        tiny_sweep(data="pacman")
    valid = gdata.eval_set("moving-mnist", "valid", limit=3)
    test = gdata.eval_set("moving-mnist", "test", limit=3)
    assert valid.shape == test.shape and not torch.equal(valid, test)
    held_out = gdata.train_stream("moving-mnist", seed=0, holdout=True)
    assert len(held_out.generator.digits) == 50_000  # MNIST-train 50,000.. make the valid set


def test_the_best_trial_retrains_on_all_training_data(tmp_path):
    run_sweep(tiny_sweep(trials=1), tmp_path / "sweep")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--from-trial",
            str(tmp_path / "sweep/trials/0000"),
            "--steps",
            "6",
            "--out",
            str(tmp_path / "best"),
        ],
    )
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "best" / "config.json").read_text())
    trial = json.loads((tmp_path / "sweep/trials/0000/config.json").read_text())
    assert stored["data"]["holdout"] is False and stored["train"]["steps"] == 6
    assert stored["model"] == trial["model"] and stored["train"]["lr"] == trial["train"]["lr"]


GAN_TINY = {"hidden_channels": 2, "critic_channels": 2, "z_dim": 4, "rnn_size": 8, "n_critic": 1}


def test_min_diversity_keeps_a_collapsed_trial_from_winning(tmp_path, monkeypatch):
    """Two FVD trials, I3D stubbed: trial 0's generator returns one clip every time (a real
    validation clip, so its FVD is the better one), trial 1's is varied but worse on FVD."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # real features cached here
    monkeypatch.setattr(  # I3D: each frame's mean grey level, [N, 16]
        frechet, "i3d_features", lambda clips, model, **kw: clips.double().flatten(2).mean(2)
    )
    monkeypatch.setattr(frechet, "load_i3d_weights", lambda: None)
    valid = gdata.eval_set("moving-mnist", "valid", limit=16)[:, :16]

    def sample(self, n, *, generator=None):  # input_noise picks the stand-in
        if self.config.input_noise > 0:
            return valid[:1].expand(n, -1, -1, -1, -1).clone()  # collapsed
        return 255 - valid[:n]  # varied, but inverted: far from the data

    monkeypatch.setattr(VideoGAN, "sample", sample)
    space = parse_space("videogan-mmnist", ["input_noise=choice:0.5,0.0"], fixed=GAN_TINY)
    definition = Sweep(
        "videogan-mmnist",
        space,
        trials=2,
        budget_steps=1,
        rungs=1,
        train={"batch_size": 2, "device": "cpu"},
        valid_limit=16,
        samples=6,
        min_diversity=0.2,
    )
    (tmp_path / "sweep" / "trials").mkdir(parents=True)
    study = _open_study(definition, tmp_path / "sweep", default_url(tmp_path / "sweep"))
    for noise in (0.5, 0.0):
        study.enqueue_trial({"input_noise": noise})
    lines = run_sweep(definition, tmp_path / "sweep")

    collapsed, varied = study_of(tmp_path / "sweep").trials
    assert collapsed.state.name == varied.state.name == "COMPLETE"
    assert collapsed.user_attrs["diversity"] == 0.0 and collapsed.user_attrs["below_min_diversity"]
    assert varied.user_attrs["diversity"] > 0.2 and not varied.user_attrs["below_min_diversity"]
    assert collapsed.user_attrs["fvd"] < varied.user_attrs["fvd"]  # FVD alone would pick it
    assert collapsed.value == float("inf") and varied.value == varied.user_attrs["fvd"]
    assert study_of(tmp_path / "sweep").best_trial.number == 1
    assert "below --min-diversity 0.2: trial(s) 0" in lines[1]
    assert lines[2].startswith("best: trial 1 ")
    report, plots = sweep_report(tmp_path / "sweep")
    table = report[report.index("") + 1 :]
    assert table[0] == "| trial | state | value | diversity | rung | input_noise |"
    assert table[2].startswith(f"| 0 | complete | {collapsed.user_attrs['fvd']:.4g} | 0 * |")
    assert table[3].startswith("| 1 | complete |") and table[-1].startswith("* below")
    assert {p.name for p in plots} == {"history.png", "slice.png"}  # 1 trial of finite value

    # The threshold is part of the study: another one (or none) is refused on a re-run.
    with pytest.raises(ValueError, match="min_diversity: 0.2 then, 0.5 now"):
        run_sweep(replace(definition, min_diversity=0.5), tmp_path / "sweep")
    with pytest.raises(ValueError, match="min_diversity: 0.2 then, None now"):
        run_sweep(replace(definition, min_diversity=None), tmp_path / "sweep")
    assert "min_diversity" not in tiny_sweep().definition()  # studies made before it still open


def test_min_diversity_is_refused_where_the_evaluator_has_no_diversity(tmp_path, capsys):
    with pytest.raises(ValueError, match="reports no diversity figure"):
        tiny_sweep(min_diversity=0.5)
    out = tmp_path / "sweep"
    args = ["sweep", "pixelcnn-mnist", "--trials", "2", "--budget-steps", "2"]
    args += ["--param", "lr=loguniform:1e-3:1e-1", "--min-diversity", "0.5", "--out", str(out)]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--min-diversity" in err and "no diversity figure" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before any trial trained
