"""Two `torchrun` processes (gloo, CPU) train exactly like one process with the same global
batch: each rank minimises its local mean and DDP averages the gradients. Likewise for a video
GAN, whose steps alternate between the critic and the generator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import ddp_gan_script
import torch
from ddp_script import main
from tiny_models import TinyBernoulli

from genvid.train import load_checkpoint, load_weights

SCRIPT = Path(__file__).with_name("ddp_script.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(script: Path, run_dir: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(script),
        str(run_dir),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    torchrun(SCRIPT, tmp_path / "ddp")
    main(tmp_path / "one")
    ddp, one = load_weights(tmp_path / "ddp"), load_weights(tmp_path / "one")
    assert ddp.keys() == one.keys()
    for name in one:
        torch.testing.assert_close(ddp[name], one[name], msg=name)
    initial = _initial()
    assert any(not torch.equal(one[k], initial[k]) for k in one)  # training moved the weights
    ddp_result = json.loads((tmp_path / "ddp" / "result.json").read_text())
    one_result = json.loads((tmp_path / "one" / "result.json").read_text())
    torch.testing.assert_close(ddp_result["loss"], one_result["loss"])
    # Rank 0 wrote both ranks' RNG states; the one-process run has one.
    assert len(load_checkpoint(tmp_path / "ddp", TinyBernoulli()).rng_states) == 2
    assert len(load_checkpoint(tmp_path / "one", TinyBernoulli()).rng_states) == 1


def _initial() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return TinyBernoulli().state_dict()


def test_two_processes_train_a_gan_like_one_process(tmp_path):
    torchrun(SCRIPT.with_name("ddp_gan_script.py"), tmp_path / "ddp")
    ddp_gan_script.main(tmp_path / "one")
    ddp, one = load_weights(tmp_path / "ddp"), load_weights(tmp_path / "one")
    torch.manual_seed(0)
    initial = ddp_gan_script.create("videogan-mmnist", **ddp_gan_script.OVERRIDES).state_dict()
    for name in one:
        torch.testing.assert_close(ddp[name], one[name], msg=name, rtol=1e-4, atol=1e-5)
    for group in ("critic.", "frame_generator.", "lstm."):
        assert any(not torch.equal(one[k], initial[k]) for k in one if k.startswith(group))
