"""The video GAN and the adversarial update inside the one `fit`: shapes, losses, the gradient
penalty, clipping, schedules, resume, the NaN guard and a generator that learns a clip."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from tiny_models import ClipStream

from genvid.data import TensorStream
from genvid.models.videogan import (
    VideoGAN,
    VideoGANConfig,
    critic_loss,
    generator_loss,
    gradient_penalty,
)
from genvid.nn.critic3d import VideoCritic, steps_after_convolutions
from genvid.presets import create, update
from genvid.protocols import VideoFVD
from genvid.train import NonFiniteLossError, TrainConfig, fit, load_checkpoint, load_weights
from genvid.train.adversarial import CriticSchedule, ThresholdSchedule
from genvid.train.update import clip_gradients

TINY = dict(hidden_channels=2, critic_channels=2, z_dim=4, rnn_size=8)
CONFIG = TrainConfig(
    steps=6, batch_size=4, device="cpu", grad_clip=None, checkpoint_every=3, log_every=1
)


def tiny(preset: str = "videogan-mmnist", seed: int = 0, **overrides) -> VideoGAN:
    torch.manual_seed(seed)
    return create(preset, **{**TINY, **overrides})


def test_shapes_of_samples_clips_and_critic_scores():
    model = tiny(frames=20)
    clips = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert clips.shape == (3, 20, 1, 64, 64) and clips.dtype == torch.uint8
    assert model.generate_clips(torch.randn(2, 4)).shape == (2, 1, 20, 64, 64)
    critic = VideoCritic(3, 16, hidden_channels=2)
    assert critic(torch.randn(5, 3, 16, 64, 64)).shape == (5,)
    assert [steps_after_convolutions(t) for t in (16, 20, 32)] == [1, 1, 2]
    with pytest.raises(ValueError, match="frames must be >= 16"):
        VideoGANConfig(frames=8)
    with pytest.raises(ValueError, match=r"uint8 clips \[B, >=20, 1, 64, 64\]"):
        model(torch.zeros(2, 10, 1, 64, 64, dtype=torch.uint8), phase="critic", draws={})


def test_gradient_penalty_matches_a_float64_hand_computation():
    # s(x) = w.x + c/2 |x|^2 has gradient w + c x, so GP = mean((|w + c x| - 1)^2).
    torch.manual_seed(0)
    w = torch.randn(6, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    points = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    scores = points @ w + 0.5 * c * (points**2).sum(1)
    penalty = gradient_penalty(scores, points)
    expected = (((w + c * points).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected, rtol=1e-12, atol=0)
    # and its gradient with respect to the critic's parameters (the double backward)
    grads = torch.autograd.grad(penalty, (w, c))
    expected_grads = torch.autograd.grad(expected, (w, c))
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["wgan-gp", "minimax", "non-saturating"])
def test_each_loss_pushes_real_scores_up_and_fake_scores_as_each_player_wants(loss):
    s_real = torch.tensor([0.5, -0.2], requires_grad=True)
    s_fake = torch.tensor([0.1, -1.0], requires_grad=True)
    d_real, d_fake = torch.autograd.grad(
        critic_loss(s_real, s_fake, loss)["loss"], (s_real, s_fake)
    )
    assert (d_real < 0).all() and (d_fake > 0).all()  # the critic: real up, fake down
    (g_fake,) = torch.autograd.grad(generator_loss(s_fake, loss), s_fake)
    assert (g_fake < 0).all()  # the generator: its scores up
    # the minimax generator saturates where the critic rejects its clips; -log D does not
    strong = torch.tensor([-8.0], requires_grad=True)
    (slope,) = torch.autograd.grad(generator_loss(strong, loss), strong)
    if loss == "minimax":
        assert abs(slope.item()) < 1e-3
    else:
        assert abs(slope.item()) > 0.9


def test_wasserstein_critic_loss_is_the_negated_score_gap():
    out = critic_loss(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 1.0]), "wgan-gp")
    assert out["loss"].item() == pytest.approx(-2.0) and out["wasserstein"].item() == 2.0


def test_per_tensor_clipping_clips_each_tensor_to_its_own_norm():
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    a.grad, b.grad = torch.tensor([3.0, 4.0, 0.0]), torch.tensor([0.3, 0.4])  # norms 5, 0.5
    clip_gradients([a, b], 1.0, "tensor", torch.tensor(0.0))
    torch.testing.assert_close(a.grad, torch.tensor([0.6, 0.8, 0.0]))
    torch.testing.assert_close(b.grad, torch.tensor([0.3, 0.4]))  # under the bound: unchanged
    a.grad, b.grad = torch.tensor([3.0, 4.0, 0.0]), torch.tensor([0.3, 0.4])
    total = torch.linalg.vector_norm(torch.cat([a.grad, b.grad]))
    clip_gradients([a, b], 1.0, "global", total)
    torch.testing.assert_close(b.grad, torch.tensor([0.3, 0.4]) / total)  # one shared factor


def test_critic_schedule_warms_up_then_alternates_n_critic_to_one():
    schedule = CriticSchedule(n_critic=2, warmup_n_critic=4, warmup_generator_steps=2)
    phases = "".join(schedule.phase(k)[0] for k in range(18))
    assert phases == "ccccgccccgccgccgcc"
    assert "".join(CriticSchedule(5).phase(k)[0] for k in range(12)) == "cccccg" * 2


def test_threshold_schedule_switches_on_the_loss_or_after_max_steps():
    schedule = ThresholdSchedule(critic_below=-1.0, generator_below=0.5, max_steps=3)
    assert schedule.next_phase("critic", 1, 0.0) == ("critic", 1)
    assert schedule.next_phase("critic", 1, -2.0) == ("generator", 0)
    assert schedule.next_phase("critic", 3, 0.0) == ("generator", 0)  # max steps
    assert schedule.next_phase("generator", 1, 0.4) == ("critic", 0)


def test_fit_trains_named_groups_and_checkpoints_every_optimiser_by_name(tmp_path):
    model = tiny(n_critic=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, ClipStream(), CONFIG, tmp_path, update=update("videogan-mmnist", n_critic=2))
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert sorted(state["optimizers"]) == ["critic", "frame_generator", "lstm"]
    assert sorted(state["schedulers"]) == ["critic", "frame_generator", "lstm"]
    after = load_weights(tmp_path)
    for prefix in ("critic.", "frame_generator.", "lstm.", "next_noise."):
        assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith(prefix))
    # the seed's LSTM has SGD with momentum, the others Adam
    seed_update = update("videogan-mmnist-seed")
    optimizers = seed_update.optimizers(tiny("videogan-mmnist-seed"), CONFIG)
    assert type(optimizers["lstm"]).__name__ == "SGD"
    assert optimizers["lstm"].param_groups[0]["momentum"] == 0.95
    assert type(optimizers["critic"]).__name__ == "Adam"


@pytest.mark.parametrize("switch", ["schedule", "threshold"])
def test_a_resumed_gan_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, switch):
    overrides = dict(n_critic=2, switch=switch, critic_threshold=-1e9, threshold_max_steps=2)
    overrides |= dict(instance_noise=0.1, input_noise=0.1, lstm_optimizer="sgd")
    config = replace(CONFIG, grad_clip=0.5, grad_clip_mode="tensor")
    fit(
        tiny(**overrides),
        ClipStream(),
        config,
        tmp_path / "one",
        update=update("videogan-mmnist", **overrides),
    )
    fit(
        tiny(**overrides),
        ClipStream(),
        replace(config, steps=3),
        tmp_path / "two",
        update=update("videogan-mmnist", **overrides),
    )
    fit(
        tiny(seed=9, **overrides),
        ClipStream(),
        config,
        tmp_path / "two",
        resume=True,
        update=update("videogan-mmnist", **overrides),
    )
    one, two = load_weights(tmp_path / "one"), load_weights(tmp_path / "two")
    assert all(torch.equal(one[k], two[k]) for k in one)
    state = torch.load(tmp_path / "two" / "state.pt", weights_only=True)
    assert set(state["update"]) == {"phase", "count"}


def test_a_nan_stops_a_gan_run_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    model = tiny()
    calls = {"n": 0}
    original = model.critic.forward

    def poisoned(clips):
        calls["n"] += 1
        scores = original(clips)
        return scores * float("nan") if calls["n"] > 4 else scores

    model.critic.forward = poisoned
    with pytest.raises(NonFiniteLossError, match=r"at step 5; last good checkpoint: .* step 3"):
        fit(model, ClipStream(), CONFIG, tmp_path, update=update("videogan-mmnist"))
    assert load_checkpoint(tmp_path, tiny()).step == 3


def test_single_optimiser_options_are_refused_for_an_adversarial_model(tmp_path):
    with pytest.raises(ValueError, match="--lr does not apply to an adversarial model"):
        fit(
            tiny(),
            ClipStream(),
            replace(CONFIG, lr=0.1),
            tmp_path,
            update=update("videogan-mmnist"),
        )


def test_the_generator_learns_a_single_clip(tmp_path):
    """Overfit check: against one fixed real clip (a square moving right), WGAN-GP pulls the
    generated clips towards it."""
    clip = torch.zeros(1, 16, 1, 64, 64, dtype=torch.uint8)
    for t in range(16):
        clip[0, t, 0, 16:32, 2 * t : 2 * t + 16] = 255
    fast = dict(n_critic=2, critic_lr=1e-3, generator_lr=1e-3, lstm_lr=1e-3)
    model = tiny(hidden_channels=4, critic_channels=4, **fast)
    generator = torch.Generator().manual_seed(0)

    def distance() -> float:
        return (model.sample(4, generator=generator).float() - clip.float()).abs().mean().item()

    start = distance()
    config = replace(CONFIG, steps=120, checkpoint_every=120, log_every=40)
    fit(
        model,
        TensorStream(clip, seed=0),
        config,
        tmp_path,
        update=update("videogan-mmnist", **fast),
    )
    assert distance() < 0.7 * start, (start, distance())


def test_fvd_protocol_scores_generated_clips_against_real_ones_and_reports_the_floor(
    monkeypatch,
):
    import genvid.frechet as frechet

    seen = []

    def features(clips, model, *, batch_size, device):  # a cheap stand-in for I3D
        seen.append(clips.clone())
        return clips.double().flatten(2).mean(2)  # (N, T): mean grey level per frame

    monkeypatch.setattr(frechet, "i3d_features", features)
    monkeypatch.setattr(frechet, "load_i3d_weights", lambda: None)
    real = torch.randint(0, 20, (7, 20, 1, 64, 64), dtype=torch.uint8)  # dark; fakes are grey
    judge = VideoFVD(frames=16)
    report = judge.evaluate(
        tiny(), real, data="moving-mnist", batch_size=None, samples=3, device="cpu", seed=0
    )
    fake, first, second = seen
    assert fake.shape == (3, 16, 1, 64, 64)
    assert torch.equal(first, real[:3, :16]) and torch.equal(second, real[3:6, :16])  # disjoint
    assert report["count"] == 3 and report["fvd"] > report["fvd_real_vs_real"] >= 0
    assert "FVD" in judge.summary(report)[0]
    with pytest.raises(ValueError, match="needs 8 real test clips"):
        judge.evaluate(tiny(), real, data="x", batch_size=None, samples=4, device="cpu", seed=0)


def test_genvid_trains_evaluates_and_samples_a_video_gan_run(tmp_path):
    """End to end through the command line, with the real I3D (2 generated clips)."""
    from click.testing import CliRunner

    from genvid.cli import cli

    run = tmp_path / "gan"
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    runner = CliRunner()
    args = ["train", "videogan-mmnist", "--steps", "3", "--batch-size", "2", "--out", str(run)]
    result = runner.invoke(cli, [*args, *sets, "--sample-every", "3"])
    assert result.exit_code == 0, result.output
    assert (run / "samples" / "step-000003.gif").is_file()
    result = runner.invoke(cli, ["eval", str(run), "--samples", "2", "--limit", "4"])
    assert result.exit_code == 0, result.output
    assert "real vs real" in result.output
    report = json.loads((run / "eval-limit4.json").read_text())
    assert report["protocol"]["evaluator"] == "fvd" and report["fvd"] > 0
    result = runner.invoke(cli, ["sample", str(run), "--n", "2", "--out", str(tmp_path / "s.gif")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.gif").stat().st_size > 0
