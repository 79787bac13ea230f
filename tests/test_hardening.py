"""The command line as a careless or hostile user meets it, in real processes.

Every failure must be one line on stderr, a non-zero exit and no traceback, and must lose
nothing: the last good checkpoint still loads and evaluates to the same figure. A full file
system is mounted by root only (skipped elsewhere, saying so); a file-size limit and a
directory without write permission give every user the same failures.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

TINY = ["--set", "hidden_channels=4", "--set", "num_layers=1", "--set", "output_channels=4"]
QUIET = ["--log-every", "100000"]  # no progress lines on stderr: only the error is there


def genvid(*args, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m genvid ARGS` to completion; text output."""
    return subprocess.run(
        [sys.executable, "-m", "genvid", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def start_genvid(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "genvid", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_line_error(result, *fragments: str) -> str:
    """Non-zero exit, a single `genvid: error:` line on stderr naming every fragment."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("genvid: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def train_tiny(run_dir: Path, *extra, steps: int = 2) -> subprocess.CompletedProcess:
    result = genvid(
        "train", "pixelcnn-mnist", *TINY, "--steps", steps, "--batch-size", 8,
        "--checkpoint-every", 1, *QUIET, "--out", run_dir, *extra,
    )  # fmt: skip
    return result


def eval_figure(run_dir: Path) -> float:
    result = genvid("eval", run_dir, "--limit", 16, "--out", run_dir / "check.json")
    assert result.returncode == 0, result.stderr
    return json.loads((run_dir / "check.json").read_text())["nll_nats"]


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("hardening") / "run"
    assert train_tiny(run_dir).returncode == 0
    return run_dir


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_run, tmp_path / "copy"))


# -- 1. one process per run directory ------------------------------------------------------


def test_a_second_training_into_a_busy_run_is_refused_and_a_killed_one_frees_it(tmp_path):
    run_dir = tmp_path / "c"
    first = start_genvid(
        "train", "pixelcnn-mnist", *TINY, "--steps", 10**6, "--batch-size", 8,
        "--checkpoint-every", 5, *QUIET, "--out", run_dir,
    )  # fmt: skip
    try:
        wait_for(lambda: (run_dir / "state.pt").exists(), first)
        second = genvid(
            "train", "pixelcnn-mnist", "--set", "hidden_channels=16", "--set", "num_layers=2",
            "--steps", 20, "--batch-size", 8, "--out", run_dir,
        )  # fmt: skip
        assert_one_line_error(second, f"in use by process {first.pid}", str(run_dir))
        resumed = genvid("train", "--resume", run_dir, "--steps", 10**6 + 1)
        assert_one_line_error(resumed, f"in use by process {first.pid}")
    finally:
        first.send_signal(signal.SIGKILL)  # the kernel releases the lock with the process
        first.communicate()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["overrides"]["hidden_channels"] == 4  # the first run's, untouched
    step = json.loads((run_dir / "config.json").read_text())["train"]["steps"]
    assert step == 10**6
    figure = eval_figure(run_dir)
    done = json.loads((run_dir / "check.json").read_text())["protocol"]["checkpoint_step"]
    result = genvid("train", "--resume", run_dir, "--steps", done + 1)
    assert result.returncode == 0, result.stderr
    assert np.isfinite(figure)


# -- 2. data outside the likelihood's support ----------------------------------------------


def test_grey_levels_into_a_bernoulli_are_refused_at_training_start(tmp_path):
    result = train_tiny(tmp_path / "r", "--data", "mnist")
    line = assert_one_line_error(result, "'mnist'", "bernoulli", "binarized-mnist")
    assert "--set likelihood=categorical" in line
    assert not (tmp_path / "r" / "model.safetensors").exists()
    assert train_tiny(tmp_path / "r").returncode == 0  # the directory is not dead


def test_grey_levels_into_a_bernoulli_are_refused_at_evaluation(tiny_run):
    result = genvid("eval", tiny_run, "--data", "mnist", "--limit", 8)
    assert_one_line_error(result, "'mnist'", "bernoulli", "likelihood=categorical")


# -- 3. a failure before the first checkpoint leaves a restartable directory --------------


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(tmp_path):
    run_dir = tmp_path / "killed"
    common = [*TINY, "--batch-size", 8, "--checkpoint-every", 10**6, *QUIET]
    first = start_genvid("train", "pixelcnn-mnist", *common, "--steps", 10**6, "--out", run_dir)
    wait_for(lambda: (run_dir / "config.json").exists(), first)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert not (run_dir / "state.pt").exists()
    stale = run_dir / ".model.safetensors.k1ll3d.tmp"  # what a kill mid-save leaves
    stale.write_bytes(b"half a checkpoint")

    resumed = genvid("train", "--resume", run_dir, "--steps", 3)
    assert resumed.returncode == 0, resumed.stderr
    assert "trained to step 3" in resumed.stdout and not stale.exists()
    fresh = genvid("train", "pixelcnn-mnist", *common, "--steps", 3, "--out", tmp_path / "fresh")
    assert fresh.returncode == 0, fresh.stderr
    load = safetensors.torch.load_file
    resumed_weights = load(run_dir / "model.safetensors")
    fresh_weights = load(tmp_path / "fresh" / "model.safetensors")
    assert all(torch.equal(resumed_weights[k], fresh_weights[k]) for k in fresh_weights)


def test_a_nan_before_the_first_checkpoint_leaves_a_directory_a_new_run_can_use(tmp_path):
    run_dir = tmp_path / "nan"
    result = train_tiny(run_dir, "--lr", 1e30, "--grad-clip", 0, "--checkpoint-every", 10**6,
                        steps=50)  # fmt: skip
    assert_one_line_error(result, "is nan", "last good checkpoint: none")
    assert train_tiny(run_dir).returncode == 0


def test_a_bad_override_for_the_data_leaves_a_directory_a_new_run_can_use(tmp_path):
    run_dir = tmp_path / "rgb"
    result = train_tiny(run_dir, "--set", "channels=3")
    assert_one_line_error(result, "expected images [B, 3, H, W]")
    assert train_tiny(run_dir).returncode == 0


# -- 4. damaged run directories and unusable places: one line each ------------------------


def test_a_truncated_or_keyless_state_file_gives_one_line(run_copy):
    state = run_copy / "state.pt"
    blob = state.read_bytes()
    for cut in (10, len(blob) // 2, len(blob) - 30):
        state.write_bytes(blob[:cut])
        assert_one_line_error(genvid("eval", run_copy), "state.pt")
        assert_one_line_error(genvid("train", "--resume", run_copy, "--steps", 3), "state.pt")
    torch.save({"step": 2}, state)
    assert_one_line_error(genvid("eval", run_copy), "state.pt", "no 'loss'")


@pytest.mark.parametrize(
    "edit,fragment",
    [
        (lambda c: c.pop("model"), "no 'model' object"),
        (lambda c: c["model"]["overrides"].update(num_layers="many"), "num_layers must be an int"),
        (lambda c: c["model"].update(preset=3), "model.preset"),
        (lambda c: c["train"].update(lr="fast"), "TrainConfig.lr must be a float, got 'fast'"),
        (lambda c: c["train"].update(speed=2), "no field 'speed'"),
    ],
)
def test_a_damaged_config_gives_one_line(run_copy, edit, fragment):
    path = run_copy / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    assert_one_line_error(genvid("train", "--resume", run_copy, "--steps", 3), fragment)
    assert_one_line_error(genvid("eval", run_copy), fragment)


def test_out_that_cannot_be_a_run_directory_gives_one_line(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    assert_one_line_error(train_tiny(a_file / "run"), "is a file")
    assert_one_line_error(train_tiny(a_file), "not a directory")
    assert_one_line_error(train_tiny(Path("/dev/null")), "not a directory")
    assert a_file.read_text() == "not a directory"


def test_steps_and_batch_sizes_out_of_range_give_one_line(tiny_run, tmp_path):
    result = genvid("train", "pixelcnn-mnist", "--steps", 10**20, "--out", tmp_path / "r")
    assert_one_line_error(result, "steps must be <=")
    assert_one_line_error(genvid("eval", tiny_run, "--batch-size", 0), "--batch-size must be >= 1")


def test_sample_to_a_directory_fails_before_drawing(tiny_run, tmp_path):
    (tmp_path / "grid.png").mkdir()
    result = genvid("sample", tiny_run, "--out", tmp_path / "grid.png")
    assert_one_line_error(result, "grid.png is a directory")


# -- 5. no NaN in results ------------------------------------------------------------------


def test_evaluating_non_finite_weights_fails_and_writes_nothing(run_copy):
    path = run_copy / "model.safetensors"
    weights = safetensors.torch.load_file(path)
    with safetensors.safe_open(path, "pt") as handle:
        metadata = handle.metadata()
    name = next(k for k in weights if k.endswith("weight"))
    weights[name] = torch.full_like(weights[name], float("nan"))
    safetensors.torch.save_file(weights, path, metadata=metadata)
    assert_one_line_error(genvid("eval", run_copy, "--limit", 8), "nan", "step 2", "not finite")
    assert not list(run_copy.glob("eval*.json"))


# -- 6. smaller ----------------------------------------------------------------------------


def test_run_files_follow_the_umask(tmp_path):
    result = subprocess.run(
        f"umask 022 && {sys.executable} -m genvid train pixelcnn-mnist {' '.join(TINY)} "
        f"--steps 1 --batch-size 8 --out {tmp_path / 'r'}",
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "model.safetensors", "state.pt"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == 0o644, name


def test_a_video_file_with_too_few_frames_names_its_length(tmp_path):
    from genvid.data import write_moving_mnist

    short = tmp_path / "short.npy"
    write_moving_mnist(short, torch.zeros(2, 5, 1, 64, 64, dtype=torch.uint8))
    run_dir = tmp_path / "vpn"
    result = genvid(
        "train", "vpn-micro", "--set", "hidden_channels=2", "--set", "encoder_blocks=1",
        "--set", "decoder_blocks=1", "--set", "lstm_channels=2", "--steps", 1,
        "--batch-size", 1, "--data", short, "--out", run_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_one_line_error(genvid("eval", run_dir), "has 5 frames", "needs 20")


# -- file systems that say no -------------------------------------------------------------
# A full disk needs a small file system, mounted by root (skipped elsewhere, with the reason in
# pytest's summary); a file-size limit (RLIMIT_FSIZE) makes the same write fail for anyone. A
# read-only run directory is a read-only bind mount for root, and a directory without write
# permission for other users (root writes through permissions).


@contextlib.contextmanager
def mounted(target: Path, *args: str):
    target.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the file-size-limit test runs instead)")
    mount = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a test file system here: {mount.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint(tmp_path):
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as disk:
        run_dir = disk / "run"
        assert train_tiny(run_dir).returncode == 0
        figure = eval_figure(run_dir)
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:  # fill the disk to its last byte
                handle.write(b"\0" * 4096)
        os.truncate(filler, filler.stat().st_size - 16384)  # room for the config, not a checkpoint
        result = genvid("train", "--resume", run_dir, "--steps", 4)
        assert_one_line_error(result, "could not write the checkpoint", "step 2's is intact")
        filler.unlink()
        assert eval_figure(run_dir) == figure


def test_a_file_size_limit_while_checkpointing_keeps_the_last_checkpoint(run_copy):
    """No root needed: the resumed process may grow no file beyond the config's size, so its
    checkpoint's write fails (EFBIG, as ENOSPC on a full disk) and the last one is kept."""
    import resource

    figure = eval_figure(run_copy)
    before = {name: (run_copy / name).read_bytes() for name in ("model.safetensors", "state.pt")}
    limit = (run_copy / "config.json").stat().st_size + 512
    assert limit < len(before["state.pt"])

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = genvid("train", "--resume", run_copy, "--steps", 4, preexec_fn=small_files)
    assert_one_line_error(
        result, "could not write the checkpoint of step 3", "File too large", "step 2's is intact"
    )
    after = {name: (run_copy / name).read_bytes() for name in before}
    assert after == before
    assert not [p.name for p in run_copy.iterdir() if p.name.endswith(".tmp")]
    assert eval_figure(run_copy) == figure


@contextlib.contextmanager
def read_only(source: Path, view: Path):
    """`source` seen read-only at `view`: a read-only bind mount (root), else a copy whose
    directories and files have lost their write permission. Yields the error text to expect."""
    if os.geteuid() == 0:
        with mounted(view, "--bind", "-o", "ro", str(source)):
            yield "Read-only file system"
        return
    import shutil

    shutil.copytree(source, view)
    paths = [view, *view.rglob("*")]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield "Permission denied"
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_run_directory_gives_one_line_before_any_work(tiny_run, tmp_path):
    with read_only(tiny_run.parent, tmp_path / "view") as refusal:
        run_dir = tmp_path / "view" / tiny_run.name
        assert_one_line_error(genvid("eval", run_dir, "--limit", 8), refusal)
        sample = genvid("sample", run_dir, "--out", run_dir / "s.png")
        assert_one_line_error(sample, refusal)
        resume = genvid("train", "--resume", run_dir, "--steps", 3)
        assert_one_line_error(resume, refusal)
        assert_one_line_error(train_tiny(tmp_path / "view" / "new"), refusal)
        # and reading it is fine: the report can go elsewhere
        result = genvid("eval", run_dir, "--limit", 8, "--out", tmp_path / "elsewhere.json")
        assert result.returncode == 0, result.stderr
