"""The run directory: atomic writes, torn and corrupt checkpoints, RNG state round trips."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from tiny_models import TinyBernoulli

from genvid import atomic as atomic_module
from genvid.train import (
    TrainConfig,
    atomic_write,
    load_checkpoint,
    load_weights,
    read_run_config,
    save_checkpoint,
)
from genvid.train import checkpoint as checkpoint_module
from genvid.train.checkpoint import write_run_config
from genvid.train.optim import build_optimizer, build_scheduler
from genvid.train.rng import rng_state, set_rng_state

CONFIG = TrainConfig(steps=10, lr_schedule="cosine")


def trained(seed: int, steps: int):
    """A model, optimiser and scheduler after `steps` updates (so every state is non-trivial)."""
    torch.manual_seed(seed)
    model = TinyBernoulli()
    optimizer = build_optimizer(model, CONFIG)
    scheduler = build_scheduler(optimizer, CONFIG)
    for _ in range(steps):
        model((torch.rand(4, 1, 4, 4) < 0.5).to(torch.uint8))["loss"].backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def save(run_dir, seed: int, steps: int) -> None:
    model, optimizer, scheduler = trained(seed, steps)
    states = [rng_state(torch.device("cpu"))]
    save_checkpoint(
        run_dir,
        model,
        {"model": optimizer},
        {"model": scheduler},
        steps,
        loss=1.5,
        rng_states=states,
    )


def snapshot(run_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def test_checkpoint_round_trip_restores_model_optimizer_and_scheduler(tmp_path):
    model, optimizer, scheduler = trained(seed=0, steps=3)
    save_checkpoint(
        tmp_path, model, {"model": optimizer}, {"model": scheduler}, 3, loss=1.5, rng_states=[{}]
    )

    fresh, fresh_optimizer, fresh_scheduler = trained(seed=1, steps=0)
    checkpoint = load_checkpoint(
        tmp_path, fresh, {"model": fresh_optimizer}, {"model": fresh_scheduler}
    )
    assert (checkpoint.step, checkpoint.loss, checkpoint.rng_states) == (3, 1.5, [{}])
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert fresh_scheduler.last_epoch == 3
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    state, fresh_state = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(state[0][k], fresh_state[0][k]) for k in state[0])


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "file.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def half_then_crash(f):
        f.write(b"new, but only ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]  # no temporary file left


def test_interrupted_serializer_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    save(tmp_path, seed=0, steps=2)
    before = snapshot(tmp_path)

    def crash(obj, f):
        f.write(b"PK\x03\x04 partial zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, seed=1, steps=5)
    monkeypatch.undo()

    assert snapshot(tmp_path) == before  # no temporary file left behind either
    assert load_checkpoint(tmp_path, TinyBernoulli()).step == 2


def test_interrupted_rename_leaves_the_previous_checkpoint_unchanged(tmp_path, monkeypatch):
    save(tmp_path, seed=0, steps=2)
    before = snapshot(tmp_path)

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(atomic_module.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        save(tmp_path, seed=1, steps=5)
    monkeypatch.undo()

    assert snapshot(tmp_path) == before
    model, _, _ = trained(seed=0, steps=2)
    assert load_checkpoint(tmp_path, TinyBernoulli()).step == 2
    stored = load_weights(tmp_path)
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items())


def test_a_crash_between_the_two_renames_is_detected(tmp_path, monkeypatch):
    save(tmp_path, seed=0, steps=2)
    renames = []

    def second_crashes(src, dst):
        renames.append(dst)
        if len(renames) == 2:
            raise OSError("power cut")
        os.rename(src, dst)

    monkeypatch.setattr(atomic_module.os, "replace", second_crashes)
    with pytest.raises(OSError, match="power cut"):
        save(tmp_path, seed=1, steps=5)
    monkeypatch.undo()

    with pytest.raises(ValueError, match="torn checkpoint .weights at step 5, state at step 2"):
        load_checkpoint(tmp_path, TinyBernoulli())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "state.pt"]


def test_missing_and_corrupt_run_directories_fail_with_one_line_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nowhere'} does not exist"):
        load_weights(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        read_run_config(tmp_path)

    save(tmp_path, seed=0, steps=1)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(ValueError, match="model.safetensors is not a readable") as caught:
        load_weights(tmp_path)
    assert "\n" not in str(caught.value)

    save(tmp_path, seed=0, steps=1)
    (tmp_path / "state.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="state.pt is not a readable checkpoint") as caught:
        load_checkpoint(tmp_path, TinyBernoulli())
    assert "\n" not in str(caught.value)

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        read_run_config(tmp_path)
    write_run_config(tmp_path, {"train": {"steps": 1}})
    assert read_run_config(tmp_path) == {"train": {"steps": 1}}


def test_weights_of_another_architecture_are_refused_in_one_line(tmp_path):
    save(tmp_path, seed=0, steps=1)
    with pytest.raises(ValueError, match=r"does not fit the model: wrong shape \['conv1.bias'"):
        load_checkpoint(tmp_path, TinyBernoulli(hidden=16))
    with pytest.raises(
        ValueError, match=r"missing \['bias', 'weight'\]; unexpected \['conv1.bias', .*\.\.\.$"
    ):
        load_checkpoint(tmp_path, torch.nn.Linear(2, 2))


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    cpu = torch.device("cpu")
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    model, optimizer, scheduler = trained(seed=0, steps=0)
    torch.randn(3), np.random.rand(), random.random()  # move every generator off its seed
    save_checkpoint(
        tmp_path,
        model,
        {"m": optimizer},
        {"m": scheduler},
        0,
        loss=0.0,
        rng_states=[rng_state(cpu)],
    )
    expected = (torch.randn(3), np.random.rand(3), random.random())

    torch.manual_seed(6), np.random.seed(6), random.seed(6)
    set_rng_state(load_checkpoint(tmp_path, model).rng_states[0], cpu)
    got = (torch.randn(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_optimisers_are_checkpointed_by_name_and_a_missing_name_is_refused(tmp_path):
    model, optimizer, scheduler = trained(seed=0, steps=2)
    second = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model((torch.rand(4, 1, 4, 4) < 0.5).to(torch.uint8))["loss"].backward()
    second.step()
    optimizers = {"critic": optimizer, "lstm": second}
    schedulers = {"critic": scheduler, "lstm": build_scheduler(second, CONFIG)}
    save_checkpoint(tmp_path, model, optimizers, schedulers, 2, loss=0.5, rng_states=[{}])

    fresh = TinyBernoulli()
    fresh_second = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    fresh_first = build_optimizer(fresh, CONFIG)
    load_checkpoint(
        tmp_path,
        fresh,
        {"critic": fresh_first, "lstm": fresh_second},
        {
            "critic": build_scheduler(fresh_first, CONFIG),
            "lstm": build_scheduler(fresh_second, CONFIG),
        },
    )
    momentum = second.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(fresh_second.state_dict()["state"][0]["momentum_buffer"], momentum)
    with pytest.raises(ValueError, match=r"holds optimizers \['critic', 'lstm'\], this run has"):
        load_checkpoint(tmp_path, TinyBernoulli(), {"model": build_optimizer(fresh, CONFIG)})


def test_a_checkpoint_of_the_single_optimiser_format_still_loads(tmp_path):
    model, optimizer, scheduler = trained(seed=0, steps=3)
    save_checkpoint(
        tmp_path, model, {"model": optimizer}, {"model": scheduler}, 3, loss=1.5, rng_states=[{}]
    )
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    old = {k: v for k, v in state.items() if k not in ("optimizers", "schedulers", "update")}
    old["optimizer"], old["scheduler"] = optimizer.state_dict(), scheduler.state_dict()
    torch.save(old, tmp_path / "state.pt")
    fresh, fresh_optimizer, fresh_scheduler = trained(seed=1, steps=0)
    load_checkpoint(tmp_path, fresh, {"model": fresh_optimizer}, {"model": fresh_scheduler})
    assert fresh_scheduler.last_epoch == 3
    assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    # Adam's moments and step count of every parameter, not only the schedule
    stored, loaded = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert sorted(loaded) == sorted(stored) == list(range(len(list(model.parameters()))))
    for index, moments in stored.items():
        assert sorted(loaded[index]) == ["exp_avg", "exp_avg_sq", "step"]
        for key, value in moments.items():
            assert torch.equal(loaded[index][key], value), (index, key)


@pytest.mark.parametrize(
    ("preset", "old"),
    [
        ("pixelcnn-mnist", {"head.hidden": "output_hidden", "head.params": "output_params"}),
        ("vpn-micro", {"head.params": "output"}),
        (
            "multiscale-pixelrnn-mnist",
            {
                f"{scale}.head.{layer}": f"{scale}.output_{layer}"
                for scale in ("small", "large")
                for layer in ("hidden", "params")
            },
        ),
    ],
)
def test_weights_saved_before_the_shared_output_head_still_load(tmp_path, preset, old):
    import safetensors.torch

    import genvid

    torch.manual_seed(0)
    model = genvid.create(preset)
    save_checkpoint(tmp_path, model, {}, {}, 1, loss=1.0, rng_states=[{}])
    path = tmp_path / "model.safetensors"
    weights = safetensors.torch.load_file(path)
    for new, legacy in old.items():  # the names the older release wrote
        for key in [k for k in weights if k.startswith(new + ".")]:
            weights[legacy + key[len(new) :]] = weights.pop(key)
    safetensors.torch.save_file(weights, path, metadata={"step": "1"})
    torch.manual_seed(1)
    fresh = genvid.create(preset)
    load_checkpoint(tmp_path, fresh)
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
