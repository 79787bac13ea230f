"""`genvid sweep` under faults: damaged studies, bad URLs, races, dead and interrupted workers,
divergence, full disks and options that do not apply. Each gives one line on stderr and a
non-zero exit, and loses nothing; the same command then continues."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import torch

import genvid.train.loop as loop
from genvid.cli import main
from genvid.sweep import Sweep, parse_space
from genvid.sweep.storage import STUDY, default_url, open_storage
from genvid.sweep.study import WORKER, _fail_abandoned_trials, _lock_path, _open_study
from genvid.train.lock import is_held

TINY = ["--set", "hidden_channels=4", "--set", "num_layers=1", "--set", "output_channels=4"]
ARGS = ["sweep", "pixelcnn-mnist", "--param", "lr=loguniform:1e-3:1e-1", "--rungs", "2"]
ARGS += [*TINY, "--batch-size", "8", "--valid-limit", "16"]


def sweep_args(out: Path, trials: int = 2, steps: int = 4) -> list[str]:
    return [*ARGS, "--trials", str(trials), "--budget-steps", str(steps), "--out", str(out)]


def run_main(capsys, args: list[str]) -> tuple[int, list[str]]:
    """Exit code and stderr lines (without training progress) of `genvid ARGS`."""
    try:
        main(args)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line and not line.startswith("step ")]


def states(out: Path) -> list[str]:
    study = optuna.load_study(study_name=STUDY, storage=open_storage(default_url(out)))
    return [t.state.name for t in study.trials]


def tiny_sweep(trials: int = 2) -> Sweep:
    space = parse_space("pixelcnn-mnist", ["lr=loguniform:1e-3:1e-1"], fixed={"num_layers": 1})
    return Sweep("pixelcnn-mnist", space, trials=trials, budget_steps=2, rungs=1)


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    assert main_quietly(sweep_args(out)) == 0
    return out


def main_quietly(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exit_info:
        return exit_info.code
    return 0


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text)")


DAMAGES = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "damaged"),
    "random bytes": (lambda p: p.write_bytes(os.urandom(p.stat().st_size)), "not an SQLite"),
    "empty": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "foreign": (lambda p: (p.unlink(), _foreign(p)), "another program's tables (notes)"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_study_is_refused_in_one_line_and_left_as_it_is(
    finished_sweep, tmp_path, capsys, damage
):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "trials").symlink_to(finished_sweep / "trials")
    (out / "study.db").write_bytes((finished_sweep / "study.db").read_bytes())
    make, message = DAMAGES[damage]
    make(out / "study.db")
    before = (out / "study.db").read_bytes()
    for args in (sweep_args(out), ["sweep-report", str(out)]):
        code, err = run_main(capsys, args)
        assert code == 1 and len(err) == 1, err
        assert str(out / "study.db") in err[0] and message in err[0]
    assert (out / "study.db").read_bytes() == before  # nothing written into it
    assert not (out / "report").exists()


def test_runs_without_their_study_are_never_joined_to_a_new_one(finished_sweep, tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "trials").symlink_to(finished_sweep / "trials")  # its study.db was lost
    code, err = run_main(capsys, sweep_args(out))
    assert code == 1 and len(err) == 1
    assert "holds trial runs" in err[0] and "use another --out" in err[0]


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("notaurl", "--storage 'notaurl' is not a database URL"),
        ("sqlite:////nonexistent/dir/x.db", "directory /nonexistent/dir does not exist"),
        ("sqlite://", "in-memory SQLite"),
    ],
)
def test_a_bad_storage_url_is_one_line(tmp_path, capsys, storage, message):
    out = tmp_path / "sweep"
    for args in (sweep_args(out), ["sweep-report", str(tmp_path)]):
        code, err = run_main(capsys, [*args, "--storage", storage])
        assert code == 1 and len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_an_unreachable_server_is_one_line_without_its_password(tmp_path, capsys):
    url = "postgresql://genvid:secret@127.0.0.1:9/none"  # the discard port: nothing listens
    pytest.importorskip(sqlalchemy.engine.make_url(url).get_dialect().driver)
    code, err = run_main(capsys, [*sweep_args(tmp_path / "s"), "--storage", url])
    assert code == 1 and len(err) == 1
    assert "cannot open the study postgresql://genvid:***@127.0.0.1:9/none" in err[0]
    assert "secret" not in err[0]


def _open_at_once(barrier, out: str) -> None:
    barrier.wait()
    _open_study(tiny_sweep(), Path(out), default_url(Path(out)))


def test_sweeps_started_at_the_same_moment_create_one_study(tmp_path):
    """Two processes open a fresh study at once, again and again: creating the schema is
    serialised (without the lock, about 1 try in 2 failed with `table studies already exists`
    or a UNIQUE constraint of alembic_version)."""
    context = multiprocessing.get_context("fork")  # fast: nothing is imported again
    for attempt in range(8):
        out = tmp_path / f"try{attempt}"
        out.mkdir()
        barrier = context.Barrier(2)
        processes = [
            context.Process(target=_open_at_once, args=(barrier, str(out))) for _ in range(2)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        assert [p.exitcode for p in processes] == [0, 0], f"try {attempt}"
        study = optuna.load_study(study_name=STUDY, storage=open_storage(default_url(out)))
        assert study.user_attrs["definition"] == tiny_sweep().definition()


def test_every_trial_diverging_stops_the_sweep_in_one_line(tmp_path, capsys):
    args = sweep_args(tmp_path)
    args[args.index("lr=loguniform:1e-3:1e-1")] = "lr=loguniform:1e6:1e7"
    code, err = run_main(capsys, [*args, "--grad-clip", "0"])
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("genvid: error: all 2 trials diverged (the last: ")
    assert "lower the learning rate" in err[0] and "--grad-clip" in err[0]
    assert states(tmp_path) == ["FAIL", "FAIL"]


def test_a_full_disk_fails_the_trial_in_one_line_and_the_same_command_continues(
    tmp_path, capsys, monkeypatch
):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", full)
        code, err = run_main(capsys, sweep_args(tmp_path))
    assert code == 1 and len(err) == 1, err
    assert "could not write the checkpoint of step 2" in err[0] and "No space left" in err[0]
    assert states(tmp_path) == ["FAIL"]

    # torch.save itself says "unexpected pos" when the disk fills up in the middle of a write
    def torn(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", torn)
        code, err = run_main(capsys, sweep_args(tmp_path))
    assert code == 1 and len(err) == 1, err
    assert "could not write the checkpoint of step 2" in err[0] and "disk full" in err[0]
    assert states(tmp_path) == ["FAIL", "FAIL"]

    # the study's own database full: the trial cannot be marked, the next run marks it
    def database_full(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("database or disk is full"))

    with monkeypatch.context() as patch:
        patch.setattr(optuna.Study, "tell", database_full)
        code, err = run_main(capsys, sweep_args(tmp_path))
    assert code == 1 and len(err) == 1, err
    assert "database or disk is full" in err[0] and "run the same command again" in err[0]
    assert states(tmp_path) == ["FAIL", "FAIL", "RUNNING"]

    code, err = run_main(capsys, sweep_args(tmp_path))
    assert code == 0 and not err
    assert states(tmp_path)[:3] == ["FAIL", "FAIL", "FAIL"]
    assert sorted(states(tmp_path)[3:]) in (["COMPLETE"] * 2, ["COMPLETE", "PRUNED"])


GAN = ["sweep", "videogan-mmnist", "--trials", "2", "--budget-steps", "2", "--rungs", "1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*GAN, "--param", "lr=loguniform:1e-4:1e-3"], "--param lr does not apply"),
        ([*GAN, "--param", "n_critic=int:1:3", "--lr", "0.001"], "--lr does not apply"),
        ([*GAN, "--param", "n_critic=int:1:3", "--samples", "1"], "--samples must be >= 2"),
        (
            [*GAN, "--param", "n_critic=int:1:3", "--samples", "8", "--valid-limit", "10"],
            "--valid-limit 10 is below the 16 validation clips",
        ),
        ([*ARGS, "--trials", "2", "--budget-steps", "2", "--valid-limit", "0"], "--valid-limit"),
        ([*ARGS, "--trials", "2", "--budget-steps", "2", "--samples", "4"], "--samples does not"),
        (
            ["sweep", "svg-det-smmnist", "--trials", "2", "--budget-steps", "2", "--rungs", "1"]
            + ["--param", "lr=loguniform:1e-4:1e-3", "--samples", "3"],
            "a deterministic model makes one prediction",
        ),
        (
            ["sweep", "svg-lp-smmnist", "--trials", "2", "--budget-steps", "2", "--rungs", "1"]
            + ["--param", "variant=choice:lp,deterministic", "--samples", "3"],
            "with variant=deterministic",
        ),
    ],
)
def test_options_that_do_not_apply_are_refused_before_anything_is_made(
    tmp_path, capsys, args, message
):
    out = tmp_path / "sweep"
    code, err = run_main(capsys, [*args, "--out", str(out)])
    assert code == 1 and len(err) == 1 and message in err[0], err
    if "--valid-limit 0" not in " ".join(args):
        assert "--valid-limit must be >= 1, got 0" not in err[0]
    assert not out.exists()


def test_from_trial_refuses_a_failed_trial_and_warns_about_a_pruned_one(
    finished_sweep, tmp_path, capsys
):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "study.db").write_bytes((finished_sweep / "study.db").read_bytes())
    for number in (2, 3):
        (out / "trials" / f"{number:04d}").mkdir(parents=True)
        config = (finished_sweep / "trials" / "0000" / "config.json").read_bytes()
        (out / "trials" / f"{number:04d}" / "config.json").write_bytes(config)
    study = optuna.load_study(study_name=STUDY, storage=open_storage(default_url(out)))
    done = study.trials[0]
    pruned = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED,
        params=done.params,
        distributions=done.distributions,
        intermediate_values={2: 600.0},
    )
    failed = optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, user_attrs={"error": "loss is nan at step 3"}
    )
    study.add_trial(pruned)
    study.add_trial(failed)
    train = ["train", "--steps", "1", "--batch-size", "4", "--device", "cpu"]

    refused = tmp_path / "refused"
    args = [*train, "--from-trial", str(out / "trials/0003"), "--out", str(refused)]
    code, err = run_main(capsys, args)
    assert code == 1 and len(err) == 1
    assert "trial 3" in err[0] and "failed in its sweep (loss is nan at step 3)" in err[0]
    assert not refused.exists()

    retrained = tmp_path / "retrained"
    args = [*train, "--from-trial", str(out / "trials/0002"), "--out", str(retrained)]
    code, err = run_main(capsys, args)
    assert code == 0 and len(err) == 1
    assert err[0].startswith("genvid: warning: trial 2") and "pruned at step 2" in err[0]
    assert (retrained / "model.safetensors").is_file()


def test_a_trial_of_another_machine_is_judged_by_its_heartbeat(tmp_path):
    """Its lock file is on the other machine: a stale heartbeat, or no heartbeat nor worker
    name long after it started, marks it failed; a fresh heartbeat keeps it."""
    out = tmp_path
    (out / "trials").mkdir()
    study = _open_study(tiny_sweep(), out, default_url(out))
    storage = study._storage
    with pytest.warns(UserWarning, match="Heartbeat"):
        alive, stale, silent, local = (study.ask() for _ in range(4))
    for trial in (alive, stale):
        storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr(WORKER, "elsewhere:1")
    _lock_path(out, local.number).touch()  # a free lock here: its worker died
    with sqlite3.connect(out / "study.db") as connection:
        connection.execute(
            "UPDATE trial_heartbeats SET heartbeat = datetime('now', '-1 hour') WHERE trial_id = ?",
            (stale._trial_id,),
        )
        connection.execute(
            "UPDATE trials SET datetime_start = datetime('now', 'localtime', '-1 hour') "
            "WHERE trial_id = ?",
            (silent._trial_id,),
        )
    _fail_abandoned_trials(study, out)
    assert [t.state.name for t in study.trials] == ["RUNNING", "FAIL", "FAIL", "FAIL"]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _wait_for_two_trials(out: Path, process: subprocess.Popen) -> None:
    """Until two workers hold a trial's lock at once (both are training)."""
    deadline = time.time() + 120
    while sum(is_held(lock) for lock in (out / "trials").glob(".*.lock")) < 2:
        assert process.poll() is None and time.time() < deadline, process.stderr.read()
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for worker pids")
def test_interrupted_and_killed_workers_are_one_line_and_the_same_command_continues(tmp_path):
    """Ctrl-C on `--workers 2` gives one "genvid: aborted"; a SIGKILLed worker one line naming
    it; the same command then finishes with exactly the trials asked for."""
    args = sweep_args(tmp_path, trials=2, steps=200)
    start = (  # Ctrl-C's default handler, whatever this process was started with
        "import signal, runpy, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv = ['genvid', *sys.argv[1:]]; runpy.run_module('genvid.cli', run_name='__main__')"
    )
    command = [sys.executable, "-c", start, *args, "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def launch() -> subprocess.Popen:
        return subprocess.Popen(
            command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
        )

    def lines(err: str) -> list[str]:
        return [line for line in err.splitlines() if line and not line.startswith("step ")]

    process = launch()
    _wait_for_two_trials(tmp_path, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and lines(err) == ["genvid: aborted"], err
    assert states(tmp_path).count("FAIL") == 2 and "RUNNING" not in states(tmp_path)

    process = launch()
    _wait_for_two_trials(tmp_path, process)
    workers = [pid for pid in _children(process.pid) if b"spawn_main" in _cmdline(pid)]
    assert len(workers) == 2
    os.kill(workers[1], signal.SIGKILL)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and len(lines(err)) == 1, err
    assert f"of 2 (pid {workers[1]}) was killed by SIGKILL" in lines(err)[0]
    assert "run the same command again to continue" in lines(err)[0]

    command = command[: command.index("--workers")]  # the rest in one process: no spawns
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not lines(done.stderr), done.stderr
    final = states(tmp_path)
    assert sum(state in ("COMPLETE", "PRUNED") for state in final) == 2
    assert "RUNNING" not in final


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
