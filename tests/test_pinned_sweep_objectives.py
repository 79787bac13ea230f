"""Sweeps optimise each protocol's figure in its own direction: SSIM up, FVD down.

Each test runs a real tiny sweep (three trials, a step or two each, judged on a few validation
sequences) and checks, against the figures every trial's evaluation wrote to its
`eval-valid-stepS.json`: the study's direction, the value Optuna holds for each trial (the
objective's figure, not another of the report's), the study's best trial, and the "best" line
that `run_sweep` and `genvid sweep-report` print. The FVD sweep scores clips by a cheap stand-in
for I3D (the mean grey level of each frame), so no real I3D runs.
"""

from __future__ import annotations

import json
import re

import optuna
import pytest
import torch

from genvid.sweep import Sweep, parse_space, run_sweep, sweep_report
from genvid.sweep.storage import STUDY, default_url, open_storage

SVG_TINY = {"hidden_channels": 2, "g_dim": 4, "z_dim": 2, "rnn_size": 4}
GAN_TINY = {"hidden_channels": 2, "critic_channels": 2, "z_dim": 4, "rnn_size": 8, "n_critic": 1}


def study_of(out) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=open_storage(default_url(out)))


def figures(out, key: str, step: int) -> dict[int, float]:
    """Trial number -> the objective's figure in its last rung's evaluation report."""
    found = {}
    for report in sorted(out.glob(f"trials/*/eval-valid-step{step}.json")):
        found[int(report.parent.name)] = json.loads(report.read_text())[key]
    return found


def check_best(out, lines: list[str], key: str, step: int, pick) -> None:
    study = study_of(out)
    values = figures(out, key, step)
    complete = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    assert len(complete) == 3 and complete == pytest.approx(values)
    assert len(set(values.values())) == 3  # distinct figures: the direction decides the best
    best = pick(values, key=values.get)
    assert study.best_trial.number == best
    shown = f"best: trial {best} ({out / 'trials' / f'{best:04d}'}): {values[best]:.4f}"
    assert shown in lines, lines
    report, _ = sweep_report(out)
    assert shown in report, report
    assert sum(bool(re.match(r"best: trial \d+", line)) for line in report) == 1


def test_a_frame_prediction_sweep_maximises_ssim(tmp_path):
    space = parse_space("svg-lp-smmnist", ["lr=loguniform:1e-4:1e-1"], fixed=SVG_TINY)
    sweep = Sweep(
        "svg-lp-smmnist",
        space,
        trials=3,
        budget_steps=2,
        rungs=1,
        train={"batch_size": 2, "device": "cpu"},
        valid_limit=2,
        samples=2,
    )
    lines = run_sweep(sweep, tmp_path)
    assert study_of(tmp_path).direction == optuna.study.StudyDirection.MAXIMIZE
    psnr, ssim = figures(tmp_path, "psnr", 2), figures(tmp_path, "ssim", 2)
    assert psnr != ssim  # a sweep that reported PSNR would not pass check_best
    check_best(tmp_path, lines, "ssim", 2, max)


def test_a_video_gan_sweep_minimises_fvd(tmp_path, monkeypatch):
    import genvid.frechet as frechet

    def features(clips, model=None, *, batch_size=8, device="cpu", cache_dir=None):
        return clips.double().flatten(2).mean(2)  # (N, T): each frame's mean grey level

    monkeypatch.setattr(frechet, "i3d_features", features)
    monkeypatch.setattr(frechet, "cached_i3d_features", features)
    monkeypatch.setattr(frechet, "load_i3d_weights", lambda: None)
    space = parse_space("videogan-mmnist", ["generator_lr=loguniform:1e-4:1e-1"], fixed=GAN_TINY)
    sweep = Sweep(
        "videogan-mmnist",
        space,
        trials=3,
        budget_steps=2,  # a critic step, then a generator step
        rungs=1,
        train={"batch_size": 2, "device": "cpu"},
        valid_limit=4,
        samples=2,
    )
    lines = run_sweep(sweep, tmp_path)
    assert study_of(tmp_path).direction == optuna.study.StudyDirection.MINIMIZE
    floors = figures(tmp_path, "fvd_real_vs_real", 2)
    assert len(set(floors.values())) == 1  # the same real clips for every trial
    check_best(tmp_path, lines, "fvd", 2, min)
    assert torch.isfinite(torch.tensor(list(figures(tmp_path, "fvd", 2).values()))).all()
