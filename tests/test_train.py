"""The training loop: overfitting, resume, NaN guard, precision, clipping, schedule, compile."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny_models import NaNAfter, StopAt, TinyBernoulli, TinyStream

from genvid.train import (
    NonFiniteLossError,
    TrainConfig,
    fit,
    load_checkpoint,
    load_weights,
    lr_factor,
    read_run_config,
    train_step,
)
from genvid.train.optim import build_optimizer, build_scheduler
from genvid.train.update import LikelihoodUpdate

BASE = TrainConfig(steps=12, batch_size=8, lr=1e-2, device="cpu", checkpoint_every=4, log_every=1)
SPEC = {"model": {"preset": "tiny", "overrides": {"hidden": 8}}, "data": {"name": "tiny"}}


def tiny_model(seed: int = 0, **kwargs) -> TinyBernoulli:
    torch.manual_seed(seed)
    return TinyBernoulli(**kwargs)


def scalars(run_dir, tag: str = "train/loss") -> list[tuple[int, float]]:
    """What TensorBoard shows for `tag`, after its purge of steps an interrupted run re-did."""
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_fit_overfits_a_fixed_batch_and_writes_the_run_directory(tmp_path):
    stream = TinyStream(seed=3, num_examples=16)
    model = tiny_model()
    with torch.no_grad():
        first = model(stream.batch(0, 16))["loss"].item()
    config = replace(BASE, steps=60, batch_size=16, log_every=5, checkpoint_every=25)
    result = fit(model, stream, config, tmp_path, spec=SPEC)

    assert result.step == 60 and result.examples_per_s > 0
    assert result.loss < first / 4, (first, result.loss)
    stored = read_run_config(tmp_path)
    assert stored == {**SPEC, "train": asdict(config)}
    weights = load_weights(tmp_path)
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert (tmp_path / "state.pt").is_file()
    losses = scalars(tmp_path)
    assert [step for step, _ in losses] == list(range(5, 61, 5))
    assert losses[-1][1] == pytest.approx(result.loss)
    assert {"train/nats", "train/lr", "train/examples_per_s", "train/grad_norm"} <= set(
        EventAccumulator(str(tmp_path / "tb")).Reload().Tags()["scalars"]
    )


def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path):
    # Dropout draws from torch's generator, so this also checks that RNG states are restored.
    stream = TinyStream(seed=1)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    fit(tiny_model(dropout=0.3), stream, BASE, whole, spec=SPEC)

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_model(dropout=0.3), StopAt(stream, 6), BASE, broken, spec=SPEC)
    assert load_checkpoint(broken, tiny_model(dropout=0.3)).step == 4
    # A differently initialised model: everything must come from the checkpoint.
    result = fit(tiny_model(seed=99, dropout=0.3), stream, BASE, broken, spec=SPEC, resume=True)

    assert result.step == BASE.steps
    expected, got = load_weights(whole), load_weights(broken)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert scalars(broken) == scalars(whole)
    assert [step for step, _ in scalars(whole)] == list(range(1, 13))


def test_resume_refuses_a_changed_configuration_but_may_extend_steps(tmp_path):
    stream = TinyStream()
    fit(tiny_model(), stream, replace(BASE, steps=4), tmp_path, spec=SPEC)

    with pytest.raises(ValueError, match=r"different configuration \(train.lr: 0.01 -> 0.02\)"):
        fit(tiny_model(), stream, replace(BASE, steps=4, lr=0.02), tmp_path, resume=True)
    other = {**SPEC, "model": {"preset": "tiny", "overrides": {"hidden": 16}}}
    with pytest.raises(ValueError, match=r"model.overrides.hidden: 8 -> 16"):
        fit(tiny_model(), stream, replace(BASE, steps=4), tmp_path, spec=other, resume=True)
    with pytest.raises(ValueError, match="already holds a run"):
        fit(tiny_model(), stream, replace(BASE, steps=4), tmp_path)
    with pytest.raises(FileNotFoundError, match="empty does not exist"):
        fit(tiny_model(), stream, BASE, tmp_path / "empty", resume=True)

    with pytest.raises(ValueError, match="has done 4 updates already; steps=2"):
        fit(tiny_model(), stream, replace(BASE, steps=2), tmp_path, resume=True)
    assert read_run_config(tmp_path)["train"]["steps"] == 4

    result = fit(tiny_model(), stream, replace(BASE, steps=6), tmp_path, resume=True)
    assert result.step == 6 and load_checkpoint(tmp_path, tiny_model()).step == 6
    assert read_run_config(tmp_path)["train"]["steps"] == 6
    assert read_run_config(tmp_path)["model"] == SPEC["model"]  # kept when spec is omitted


def test_extending_a_cosine_run_follows_the_longer_schedule(tmp_path):
    short = replace(BASE, steps=4, lr_schedule="cosine")
    fit(tiny_model(), TinyStream(), short, tmp_path)
    longer = replace(short, steps=8)
    fit(tiny_model(), TinyStream(), longer, tmp_path, resume=True)
    lrs = [value for _, value in scalars(tmp_path, "train/lr")]
    assert lrs == pytest.approx(
        [short.lr * lr_factor(k, short) for k in range(4)]
        + [short.lr * lr_factor(k, longer) for k in range(4, 8)]
    )


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    model = NaNAfter(bad_call=7)
    config = replace(BASE, steps=20, checkpoint_every=3)
    with pytest.raises(NonFiniteLossError) as caught:
        fit(model, TinyStream(), config, tmp_path)
    assert str(caught.value) == f"loss is nan at step 7; last good checkpoint: {tmp_path} at step 6"

    assert load_checkpoint(tmp_path, TinyBernoulli()).step == 6
    # The optimiser did not step on the NaN update: the live weights are still step 6's.
    stored = load_weights(tmp_path)
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items())
    assert all(torch.isfinite(v).all() for v in stored.values())


class RecordingUpdate(LikelihoodUpdate):
    """The default update, keeping the optimisers it built for the test to inspect."""

    def optimizers(self, model, config):
        self.built = super().optimizers(model, config)
        return self.built


def replayed_weights(config: TrainConfig, stream: TinyStream, model) -> dict:
    """`config.steps` updates written out with PyTorch's optimiser of the config: the scheduled
    lr, weight decay, bf16 autocast and global-norm clipping, nothing of genvid's trainer."""
    kind = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[config.optimizer]
    optimizer = kind(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    for k in range(config.steps):
        optimizer.param_groups[0]["lr"] = config.lr * lr_factor(k, config)
        optimizer.zero_grad()
        batch = stream.batch(k, config.batch_size)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            loss = model(batch)["loss"]
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
    return model.state_dict()


@pytest.mark.parametrize(
    "options",
    [
        {"precision": "bf16"},
        {"channels_last": True, "grad_clip": None},
        {"optimizer": "rmsprop", "lr_schedule": "cosine", "warmup_steps": 2, "weight_decay": 1e-4},
    ],
)
def test_options_reach_the_optimiser_the_activations_and_the_schedule(tmp_path, options):
    """Each option where it acts: the optimiser's type and weight decay, the dtype of a
    layer's output (bf16 under autocast), the memory format of a layer's input and weights,
    the logged lr; and the weights equal those of the same steps written out by hand."""
    config = replace(BASE, steps=6, lr=1e-3, **options)
    stream = TinyStream(shape=(3, 8, 8))  # 3 channels: the memory formats differ
    model = tiny_model(channels=3)
    seen = []
    model.conv1.register_forward_hook(
        lambda layer, args, out: seen.append(
            (out.dtype, args[0].is_contiguous(memory_format=torch.channels_last))
        )
    )
    recording = RecordingUpdate()
    result = fit(model, stream, config, tmp_path, update=recording)
    assert result.step == 6 and math.isfinite(result.loss)

    optimizer = recording.built["model"]
    kind = torch.optim.RMSprop if config.optimizer == "rmsprop" else torch.optim.Adam
    assert type(optimizer) is kind
    assert [group["weight_decay"] for group in optimizer.param_groups] == [config.weight_decay]
    assert optimizer.param_groups[0]["params"] == list(model.parameters())
    stored = torch.load(tmp_path / "state.pt", weights_only=True)["optimizers"]["model"]
    moment = "square_avg" if config.optimizer == "rmsprop" else "exp_avg_sq"
    assert moment in stored["state"][0]

    dtype = torch.bfloat16 if config.precision == "bf16" else torch.float32
    assert seen == [(dtype, config.channels_last)] * 6
    weight = model.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) == config.channels_last
    assert weight.is_contiguous() != config.channels_last

    lrs = [value for _, value in scalars(tmp_path, "train/lr")]
    assert lrs == pytest.approx([1e-3 * lr_factor(k, config) for k in range(6)])
    expected = replayed_weights(config, stream, tiny_model(channels=3))
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_bf16_autocasts_the_forward_pass_on_cpu(precision, dtype):
    model = tiny_model()
    seen = []
    model.conv1.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    optimizer = torch.optim.Adam(model.parameters())
    metrics = train_step(model, TinyStream().batch(0, 8), optimizer, precision=precision)
    assert seen == [dtype]
    assert metrics["loss"].dtype == torch.float32 and torch.isfinite(metrics["loss"])


def test_gradient_clipping_bounds_the_update():
    batch = TinyStream().batch(0, 8)

    def update_norm(grad_clip):
        model = tiny_model()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        # Plain SGD with lr 1: the update is exactly the (clipped) gradient.
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        metrics = train_step(model, batch, optimizer, grad_clip=grad_clip)
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        return (after - before).norm().item(), metrics["grad_norm"].item()

    free, grad_norm = update_norm(None)
    clipped, same_norm = update_norm(0.05)
    assert grad_norm == pytest.approx(same_norm) and grad_norm > 0.5
    assert free == pytest.approx(grad_norm, rel=1e-4)
    assert clipped == pytest.approx(0.05, rel=1e-4)


def test_cosine_schedule_with_warmup_follows_the_formula():
    config = TrainConfig(steps=10, lr=2.0, lr_schedule="cosine", warmup_steps=2)
    optimizer = build_optimizer(torch.nn.Linear(1, 1), config)
    scheduler = build_scheduler(optimizer, config)
    lrs = []
    for _ in range(config.steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [1.0, 2.0] + [1.0 + math.cos(math.pi * k / 8) for k in range(8)]
    assert lrs == pytest.approx(expected)
    constant = replace(config, lr_schedule="constant")
    assert [lr_factor(k, constant) for k in range(4)] == [0.5, 1.0, 1.0, 1.0]


def test_sampling_logs_a_grid_and_leaves_training_unchanged(tmp_path):
    stream = TinyStream()
    config = replace(BASE, steps=4, sample_every=2)
    modes = []

    def sample_fn(model):
        modes.append((model.training, torch.is_grad_enabled()))
        return (torch.rand(4, 1, 8, 8) < 0.5).to(torch.uint8)  # draws from torch's generator

    sampled = tiny_model(dropout=0.3)
    fit(sampled, stream, config, tmp_path / "a", sample_fn=sample_fn)
    plain = tiny_model(dropout=0.3)
    fit(plain, stream, replace(config, sample_every=0), tmp_path / "b")

    assert modes == [(False, False), (False, False)] and sampled.training
    pairs = zip(sampled.parameters(), plain.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    events = EventAccumulator(str(tmp_path / "a" / "tb"))
    events.Reload()
    assert [e.step for e in events.Images("samples")] == [2, 4]


def test_compile_trains_on_cpu(tmp_path):
    """The compiled model takes the eager model's steps: its weights after 2 updates are the
    eager run's, to float32 rounding."""
    config = replace(BASE, steps=2, compile=True)
    model = tiny_model()
    result = fit(model, TinyStream(), config, tmp_path / "compiled")
    assert math.isfinite(result.loss)
    compiled = load_weights(tmp_path / "compiled")
    assert compiled.keys() == model.state_dict().keys()  # no "_orig_mod." prefix
    fit(tiny_model(), TinyStream(), replace(config, compile=False), tmp_path / "eager")
    eager = load_weights(tmp_path / "eager")
    initial = tiny_model().state_dict()
    for name, value in eager.items():
        torch.testing.assert_close(compiled[name], value, rtol=1e-4, atol=1e-6, msg=name)
        assert not torch.equal(value, initial[name]), name  # both trained


@pytest.mark.parametrize(
    "field,value",
    [
        ("steps", 0),
        ("batch_size", 0),
        ("lr", 0.0),
        ("optimizer", "sgd"),
        ("lr_schedule", "linear"),
        ("warmup_steps", -1),
        ("grad_clip", 0.0),
        ("precision", "fp16"),
        ("device", "tpu"),
        ("log_every", 0),
        ("sample_every", -1),
    ],
)
def test_config_rejects_a_bad_field_by_name(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field} "):
        TrainConfig(**{field: value})


def test_stored_config_is_plain_json(tmp_path):
    fit(
        tiny_model(),
        TinyStream(),
        replace(BASE, steps=1),
        tmp_path,
        spec={"data": {"size": (8, 8)}},
    )
    assert json.loads((tmp_path / "config.json").read_text())["data"] == {"size": [8, 8]}


def test_a_run_stopped_early_and_resumed_equals_an_uninterrupted_one(tmp_path):
    """`stop_at` (a sweep's rungs) keeps the schedule keyed by `steps`: cosine included."""
    config = replace(BASE, steps=8, lr_schedule="cosine", checkpoint_every=100)
    fit(tiny_model(), TinyStream(seed=1), config, tmp_path / "one")
    first = fit(tiny_model(), TinyStream(seed=1), config, tmp_path / "two", stop_at=3)
    assert first.step == 3 and load_checkpoint(tmp_path / "two", tiny_model()).step == 3
    fit(tiny_model(seed=5), TinyStream(seed=1), config, tmp_path / "two", resume=True)
    one, two = load_weights(tmp_path / "one"), load_weights(tmp_path / "two")
    assert all(torch.equal(one[k], two[k]) for k in one)
    with pytest.raises(ValueError, match="stop_at must be in 1..8"):
        fit(tiny_model(), TinyStream(seed=1), config, tmp_path / "three", stop_at=9)
