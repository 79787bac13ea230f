"""The video GAN and the adversarial update inside the one `fit`: shapes, losses, the gradient
penalty, clipping, schedules, resume, the NaN guard and a generator that learns a clip."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_models import ClipStream

from genvid.data import TensorStream
from genvid.models.videogan import (
    VideoGAN,
    VideoGANConfig,
    critic_loss,
    generator_loss,
    gradient_penalty,
)
from genvid.nn.critic3d import SpaceToDepthConv3d, VideoCritic, steps_after_convolutions
from genvid.presets import create, update
from genvid.protocols import VideoFVD
from genvid.protocols.fvd import real_subsets
from genvid.train import NonFiniteLossError, TrainConfig, fit, load_checkpoint, load_weights
from genvid.train.adversarial import CriticSchedule, ThresholdSchedule
from genvid.train.update import clip_gradients

TINY = dict(hidden_channels=2, critic_channels=2, z_dim=4, rnn_size=8)
SCALE = 200.0  # a tiny default-initialised critic has input gradients of norm about 0.009
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


@pytest.mark.parametrize("channels,size", [(1, (16, 64, 64)), (3, (6, 10, 8)), (2, (5, 8, 8))])
def test_space_to_depth_convolution_equals_the_strided_one_and_its_penalty_gradients(
    channels, size
):
    """The critic's first layer, in float64: scores, the gradient penalty (the input gradient)
    and the gradients of its weights through that penalty, against `F.conv3d` with the same
    parameters; an odd size (5 frames) takes the plain path."""
    torch.manual_seed(0)
    layer = SpaceToDepthConv3d(channels, 4).double()
    x = torch.randn(2, channels, *size, dtype=torch.float64, requires_grad=True)
    results = []
    for forward in (layer, lambda v: F.conv3d(v, layer.weight, layer.bias, stride=2, padding=1)):
        out = forward(x)
        (slope,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        penalty = (slope.flatten(1).norm(dim=1) - 1).square().mean()
        weight_grad, bias_grad = torch.autograd.grad(
            out.sum() + penalty, [layer.weight, layer.bias]
        )
        results.append((out, slope, weight_grad, bias_grad))
    for ours, plain in zip(*results, strict=True):
        torch.testing.assert_close(ours, plain, rtol=1e-10, atol=1e-10)


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


def _lively(model: VideoGAN) -> VideoGAN:
    """PyTorch's default initialisation for the critic instead of N(0, 0.02): its scores and
    input gradients are then far from zero, so every term of the critic's loss shows."""
    for layer in model.critic.modules():
        if isinstance(layer, torch.nn.Conv3d):
            layer.reset_parameters()
    with torch.no_grad():  # gradients of norm about 1: the penalty's (|g| - 1)^2 then varies
        model.critic.layers[-1].weight.mul_(SCALE)
    return model


def _rollout(model: VideoGAN, z: torch.Tensor) -> torch.Tensor:
    """The noise vectors of every frame, (N, T, z_dim): z, then LSTM steps (written out)."""
    vectors, state = [z], None
    for _ in range(model.config.frames - 1):
        state = model.lstm(vectors[-1], state)
        vectors.append(model.next_noise(state[0]))
    return torch.stack(vectors, dim=1)


def test_a_critic_step_noises_both_inputs_and_penalises_the_interpolated_clips():
    """The critic's loss written out: E[s(fake~)] - E[s(real~)] + gp_weight * GP, where x~ =
    x + instance_noise * (its own noise), the fake clips come from the noised noise vectors,
    and GP is taken at eps * real~ + (1 - eps) * fake~."""
    noise, input_noise, gp_weight = 0.3, 0.5, 7.0
    model = _lively(tiny(gp_weight=gp_weight, instance_noise=noise, input_noise=input_noise))
    batch = ClipStream().batch(0, 3)
    draws = model.draw(3, "critic", torch.Generator().manual_seed(1))
    assert {k: tuple(v.shape) for k, v in draws.items()} == {
        "z": (3, 4),
        "input_noise": (3, 16, 4),
        "fake_noise": (3, 1, 16, 64, 64),
        "real_noise": (3, 1, 16, 64, 64),
        "eps": (3,),
    }
    out = model(batch, phase="critic", draws=draws)

    with torch.no_grad():
        vectors = _rollout(model, draws["z"]) + input_noise * draws["input_noise"]
        fake = model.frame_generator(vectors.flatten(0, 1)).unflatten(0, (3, 16)).transpose(1, 2)
    real = batch.transpose(1, 2).float() / 127.5 - 1  # (3, 1, 16, 64, 64) in [-1, 1]
    real_seen = real + noise * draws["real_noise"]
    fake_seen = fake + noise * draws["fake_noise"]
    eps = draws["eps"].view(-1, 1, 1, 1, 1)

    def penalty(points: torch.Tensor) -> torch.Tensor:
        points = points.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model.critic(points).sum(), points)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    with torch.no_grad():
        s_real, s_fake = model.critic(real_seen), model.critic(fake_seen)
    gp = penalty(eps * real_seen + (1 - eps) * fake_seen)
    expected = s_fake.mean() - s_real.mean() + gp_weight * gp
    close = dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["gradient_penalty"], gp, **close)
    torch.testing.assert_close(out["wasserstein"], s_real.mean() - s_fake.mean(), **close)
    torch.testing.assert_close(out["loss"], expected, **close)
    # each ingredient moves the figures by far more than the tolerance
    assert (penalty((1 - eps) * real_seen + eps * fake_seen) - gp).abs() > 1e-3 * gp
    assert (penalty(real_seen) - gp).abs() > 1e-3 * gp
    with torch.no_grad():
        assert (model.critic(real).mean() - s_real.mean()).abs() > 1e-3
        assert (model.critic(fake).mean() - s_fake.mean()).abs() > 1e-3
        plain = model.generate_clips(draws["z"])
    assert (plain - fake).abs().max() > 1e-3  # the input noise reaches the frames

    # the generator's step: the critic's score of the noised fake clips, pushed up
    draws = model.draw(3, "generator", torch.Generator().manual_seed(2))
    assert sorted(draws) == ["fake_noise", "input_noise", "z"]  # nothing real, no eps
    out = model(batch, phase="generator", draws=draws)
    with torch.no_grad():
        vectors = _rollout(model, draws["z"]) + input_noise * draws["input_noise"]
        fake = model.frame_generator(vectors.flatten(0, 1)).unflatten(0, (3, 16)).transpose(1, 2)
        score = model.critic(fake + noise * draws["fake_noise"])
    torch.testing.assert_close(out["loss"], -score.mean(), **close)


def test_a_model_without_noise_or_penalty_draws_only_what_it_uses():
    model = tiny(gp_weight=0.0, loss="non-saturating")
    draws = model.draw(2, "critic", torch.Generator().manual_seed(0))
    assert sorted(draws) == ["z"]
    out = model(ClipStream().batch(0, 2), phase="critic", draws=draws)
    assert "gradient_penalty" not in out
    with torch.no_grad():
        fake = model.generate_clips(draws["z"])
        real = ClipStream().batch(0, 2).transpose(1, 2).float() / 127.5 - 1
        expected = critic_loss(model.critic(real), model.critic(fake), "non-saturating")
    torch.testing.assert_close(out["loss"], expected["loss"], rtol=1e-5, atol=1e-6)


def test_a_critic_step_changes_only_the_critic_and_a_generator_step_only_the_generator():
    model = tiny(n_critic=1)
    groups = model.parameter_groups()
    grouped = [id(p) for params in groups.values() for p in params]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each exactly once
    gan_update = update("videogan-mmnist", n_critic=1)
    config = TrainConfig(batch_size=2, device="cpu", grad_clip=None)
    optimizers = gan_update.optimizers(model, config)
    batch = ClipStream().batch(0, 2)

    def step(k: int) -> dict[str, list[bool]]:
        """Which parameters of each group update k changed."""
        before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
        gan_update(model, batch, optimizers, step=k, config=config)
        return {
            name: [not torch.equal(a, b) for a, b in zip(before[name], params, strict=True)]
            for name, params in groups.items()
        }

    assert gan_update.current_phase(0) == "critic" and gan_update.current_phase(1) == "generator"
    changed = step(0)
    # every critic tensor but the last bias, which WGAN's loss differentiates to exactly 0
    assert all(changed["critic"][:-1]), changed
    assert not any(changed["frame_generator"]) and not any(changed["lstm"]), changed
    changed = step(1)
    assert all(changed["frame_generator"]) and all(changed["lstm"]), changed
    assert not any(changed["critic"]), changed  # its gradients exist, but it is not stepped


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_bf16_autocasts_both_phases_of_a_gan_step(precision, dtype):
    model = tiny(n_critic=1)
    seen = []
    for net in (model.critic, model.frame_generator):
        net.register_forward_hook(
            lambda net, args, out: seen.append((type(net).__name__, out.dtype))
        )
    gan_update = update("videogan-mmnist", n_critic=1)
    config = TrainConfig(batch_size=2, device="cpu", grad_clip=None, precision=precision)
    optimizers = gan_update.optimizers(model, config)
    for k in range(2):  # a critic step (one call of each network), then a generator step
        metrics = gan_update(model, ClipStream().batch(k, 2), optimizers, step=k, config=config)
        assert metrics["loss"].dtype == torch.float32 and torch.isfinite(metrics["loss"])
    assert seen == [("DCGANGenerator", dtype), ("VideoCritic", dtype)] * 2


def test_the_seed_recipe_initialises_glorot_uniform_weights_and_zero_biases():
    """Every weight matrix or kernel ~ U(-b, b), b = sqrt(6 / (fan_in + fan_out)) (Glorot and
    Bengio 2010); biases 0; normalisation scales about 1. The default recipe's critic is
    DCGAN's N(0, 0.02)."""
    model = tiny("videogan-mmnist-seed", hidden_channels=8, critic_channels=8)
    checked = 0
    for name, param in model.named_parameters():
        if param.dim() > 1:
            receptive = param[0][0].numel()
            bound = math.sqrt(6 / ((param.shape[0] + param.shape[1]) * receptive))
            assert param.abs().max() <= bound, name
            if param.numel() >= 2000:  # uniform: std b / sqrt(3), the largest value near b
                assert abs(param.std().item() / (bound / math.sqrt(3)) - 1) < 0.1, name
                assert param.abs().max() > 0.95 * bound, name
                checked += 1
        elif name.endswith("bias"):
            assert torch.equal(param, torch.zeros_like(param)), name
        elif name.startswith("lstm.bias_"):
            continue  # see the test below
        else:  # normalisation scales: the frame generator's N(1, 0.02), left as they are
            assert (param - 1).abs().max() < 0.1, name
    assert checked >= 5
    assert {"lstm.weight_ih", "next_noise.weight"} <= {
        n for n, p in model.named_parameters() if p.dim() > 1
    }
    default = tiny(hidden_channels=8, critic_channels=8)
    kernels = [m.weight for m in default.critic.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(abs(w.std().item() - 0.02) < 0.004 for w in kernels if w.numel() >= 2000)


def test_the_seed_recipe_zeroes_the_lstm_biases_too():
    model = tiny("videogan-mmnist-seed")
    for name in ("bias_ih", "bias_hh"):
        bias = getattr(model.lstm, name)
        assert torch.equal(bias, torch.zeros_like(bias)), name


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
    generated clips onto it. Scored as SVG's overfit test is: the mean squared error on [0, 1]
    must fall below what an all-black clip scores (0.0625: the square is 1/16 of each frame),
    which an untrained generator's grey (about 0.25) does not, and in every frame the square
    must stand out from its background (about 0.45 against 0.05 after 120 steps)."""
    clip = torch.zeros(1, 16, 1, 64, 64, dtype=torch.uint8)
    for t in range(16):
        clip[0, t, 0, 16:32, 2 * t : 2 * t + 16] = 255
    fast = dict(n_critic=1, critic_lr=5e-3, generator_lr=5e-3, lstm_lr=5e-3)
    model = tiny(hidden_channels=4, critic_channels=4, **fast)
    target = clip.float() / 255
    black = (target**2).mean().item()

    def generated() -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return model.sample(4, generator=generator).float() / 255  # (4, 16, 1, 64, 64)

    assert ((generated() - target) ** 2).mean().item() > 3 * black  # untrained: grey
    config = replace(CONFIG, steps=120, checkpoint_every=120, log_every=40)
    fit(
        model,
        TensorStream(clip, seed=0),
        config,
        tmp_path,
        update=update("videogan-mmnist", **fast),
    )
    clips = generated()
    error = ((clips - target) ** 2).mean().item()
    assert error < black, (error, black)
    square = clip[0, :, 0].bool()  # (16, 64, 64): where the square is in each frame
    frames = clips.mean(dim=(0, 2))  # (16, 64, 64): the mean generated frame at each step
    pairs = list(zip(frames, square, strict=True))
    inside = torch.stack([frame[mask].mean() for frame, mask in pairs])
    outside = torch.stack([frame[~mask].mean() for frame, mask in pairs])
    assert (inside > 3 * outside).all(), (inside, outside)
    assert inside.mean() > 0.35 and outside.mean() < 0.1, (inside, outside)


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
    fake, first, second, _black_and_mean = seen
    assert fake.shape == (3, 16, 1, 64, 64)
    chosen, other = real_subsets(7, 3)  # the protocol's seeded, disjoint real subsets
    assert not set(chosen.tolist()) & set(other.tolist())
    assert torch.equal(first, real[chosen, :16]) and torch.equal(second, real[other, :16])
    assert report["count"] == 3 and report["fvd"] > report["fvd_real_vs_real"] >= 0
    assert "FVD" in judge.summary(report)[0]
    with pytest.raises(ValueError, match="needs 8 real test clips"):
        judge.evaluate(tiny(), real, data="x", batch_size=None, samples=4, device="cpu", seed=0)


def test_genvid_trains_evaluates_and_samples_a_video_gan_run(tmp_path):
    """End to end through the command line, with the real I3D (2 generated clips)."""
    from click.testing import CliRunner
    from PIL import Image

    from genvid.cli import cli

    run = tmp_path / "gan"
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    runner = CliRunner()
    args = ["train", "videogan-mmnist", "--steps", "3", "--batch-size", "2", "--out", str(run)]
    result = runner.invoke(cli, [*args, *sets, "--sample-every", "3"])
    assert result.exit_code == 0, result.output
    with Image.open(run / "samples" / "step-000003.gif") as image:  # 4 clips in a 2 x 2 grid
        assert image.n_frames == 16 and image.size == (2 + 2 * 66, 2 + 2 * 66)
    result = runner.invoke(cli, ["eval", str(run), "--samples", "2", "--limit", "4"])
    assert result.exit_code == 0, result.output
    assert "real vs real" in result.output
    report = json.loads((run / "eval-limit4-samples2.json").read_text())
    assert report["protocol"]["evaluator"] == "fvd" and report["fvd"] > 0
    result = runner.invoke(cli, ["sample", str(run), "--n", "2", "--out", str(tmp_path / "s.gif")])
    assert result.exit_code == 0, result.output
    # the GIF holds the run's own clips (seed 0): 16 frames of 2 clips side by side
    from genvid import runs

    model, _, _ = runs.load_run_model(run, torch.device("cpu"))
    clips = model.sample(2, generator=torch.Generator().manual_seed(0))  # (2, 16, 1, 64, 64)
    with Image.open(tmp_path / "s.gif") as image:
        assert image.n_frames == 16 and image.size == (2 + 2 * 66, 2 + 66)
        for t in range(16):
            image.seek(t)
            frame = torch.from_numpy(np.asarray(image.convert("L"))).int()
            for k in range(2):
                tile = frame[2:66, 2 + 66 * k : 66 + 66 * k]
                assert (tile - clips[k, t, 0].int()).abs().float().mean() < 2, (t, k)
