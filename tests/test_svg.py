import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genvid.models.svg import SVG, SVGConfig, kl_diagonal_gaussians
from genvid.nn.lstm import DeterministicLSTM, GaussianLSTM, reparameterize

TINY = dict(hidden_channels=2, g_dim=8, z_dim=2, rnn_size=8, context_frames=2, future_frames=2)
FRAMES = TINY["context_frames"] + TINY["future_frames"]


def _model(*, dtype=torch.float64, lively=True, **overrides):
    """A tiny SVG in eval mode. `lively`: PyTorch's default initialisation instead of the
    paper's N(0, 0.02), so that z and the inputs move the outputs visibly."""
    torch.manual_seed(0)
    model = SVG(SVGConfig(**{**TINY, **overrides})).to(dtype).eval()
    if lively:
        for layer in model.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.LSTMCell)):
                layer.reset_parameters()
    return model


def _video(channels=1, frames=FRAMES, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, frames, channels, 64, 64)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)


def _moving_squares(frames, batch=2):
    """Bright 12x12 squares moving 4 px per frame on black, one direction per example."""
    video = torch.zeros(batch, frames, 1, 64, 64, dtype=torch.uint8)
    for b in range(batch):
        for t in range(frames):
            i, j = 8 + 4 * t, 8 + (4 * t if b == 0 else 24 - 4 * t)
            video[b, t, 0, i : i + 12, j : j + 12] = 255
    return video


@pytest.mark.parametrize("variant", ["lp", "fp", "deterministic"])
@pytest.mark.parametrize("backbone,channels", [("dcgan", 1), ("vgg", 3)])
def test_forward_gives_scalars_and_predict_gives_uint8_frames(variant, backbone, channels):
    model = _model(dtype=torch.float32, variant=variant, backbone=backbone, channels=channels)
    video = _video(channels)
    out = model.train()(video)
    assert set(out) == {"loss", "mse", "kl"}
    assert all(value.shape == () and torch.isfinite(value) for value in out.values())
    torch.testing.assert_close(out["loss"], out["mse"] + model.config.beta * out["kl"])
    assert (out["kl"] == 0) == (variant == "deterministic")
    out["loss"].backward()
    for name, parameter in model.named_parameters():  # every layer is used
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    frames = model.eval().predict(video[:, :3], 4, generator=torch.Generator().manual_seed(0))
    assert frames.shape == (2, 4, channels, 64, 64) and frames.dtype == torch.uint8


def test_kl_of_diagonal_gaussians_matches_torch_distributions():
    torch.manual_seed(0)
    mu_q, logvar_q, mu_p, logvar_p = (torch.randn(5, 7, dtype=torch.float64) * 2 for _ in range(4))
    normal = torch.distributions.Normal
    expected = torch.distributions.kl_divergence(
        normal(mu_q, torch.exp(0.5 * logvar_q)), normal(mu_p, torch.exp(0.5 * logvar_p))
    )
    torch.testing.assert_close(kl_diagonal_gaussians(mu_q, logvar_q, mu_p, logvar_p), expected)


@pytest.mark.parametrize("skip", ["last", "previous"])
def test_learned_prior_at_step_t_sees_only_frames_before_t(skip):
    model = _model(variant="lp", skip=skip, future_frames=3)
    video = _video(frames=5)
    generator = torch.Generator()
    base = model.unroll(video, generator=generator.manual_seed(0)).prior
    for t in range(1, 5):
        changed = video.clone()
        changed[:, t] = 255 - changed[:, t]
        new = model.unroll(changed, generator=generator.manual_seed(0)).prior
        for old, now in zip(base, new, strict=True):  # mu, logvar [B, steps 1..4, z_dim]
            moved = (now - old).abs().amax(dim=(0, 2)) > 1e-10
            assert not moved[:t].any(), f"the prior of a frame <= {t} depends on frame {t}"
            assert moved[t:].all(), f"the prior of frames > {t} ignores frame {t}"


@pytest.mark.parametrize("skip", ["last", "previous"])
def test_deterministic_prediction_of_frame_t_sees_only_frames_before_t(skip):
    model = _model(variant="deterministic", skip=skip, future_frames=3)
    video = _video(frames=5)
    base = model.unroll(video).frames
    for t in range(1, 5):
        changed = video.clone()
        changed[:, t] = 255 - changed[:, t]
        moved = (model.unroll(changed).frames - base).abs().amax(dim=(0, 2, 3, 4)) > 1e-10
        assert not moved[:t].any() and moved[t:].all()


def _pin(gaussian: GaussianLSTM, mean: float, logvar: float) -> None:
    """Make a Gaussian LSTM output N(mean, exp(logvar)) in every dimension, whatever its input."""
    with torch.no_grad():
        for head, value in ((gaussian.mu, mean), (gaussian.logvar, logvar)):
            head.weight.zero_()
            head.bias.fill_(value)


@pytest.mark.parametrize("variant", ["lp", "fp"])
def test_training_draws_z_from_the_posterior_and_generation_from_the_prior(variant):
    model = _model(variant=variant)
    z_dim, logvar = model.config.z_dim, -4.0
    _pin(model.posterior, 5.0, logvar)
    if variant == "lp":
        _pin(model.prior, -5.0, logvar)
    seen = []
    model.predictor.register_forward_hook(lambda net, args, out: seen.append(args[0][:, -z_dim:]))
    video = _video()
    out = model.train()(video)
    steps = FRAMES - 1
    assert len(seen) == steps and all((z - 5).abs().max() < 1 for z in seen)
    if variant == "lp":  # KL(N(5, s^2) || N(-5, s^2)) = 10^2 / (2 s^2) per dimension
        per_dim = 100 / (2 * math.exp(logvar))
    else:  # KL(N(5, s^2) || N(0, 1)) = (s^2 + 25 - 1 - log s^2) / 2
        per_dim = (math.exp(logvar) + 24 - logvar) / 2
    torch.testing.assert_close(out["kl"].item(), steps * z_dim * per_dim)

    seen.clear()
    model.eval().predict(video[:, :3], 3, generator=torch.Generator().manual_seed(0))
    context, generated = seen[:2], seen[2:]  # 3 context frames: 2 posterior-driven steps
    assert len(generated) == 3 and all((z - 5).abs().max() < 1 for z in context)
    if variant == "lp":
        assert all((z + 5).abs().max() < 1 for z in generated)
    else:
        assert all(z.abs().max() < 4 for z in generated)


def _reference_loss(model, video):
    """The paper's training step (its code's `train`) one frame at a time: both frames of each
    step encoded afresh, skips kept by the rule, nn.MSELoss per step and the code's KL forms."""
    config = model.config
    x = video.to(torch.float64) / 255
    batch, frames = x.shape[:2]
    zeros = x.new_zeros(batch, config.rnn_size)
    predictor_state = ((zeros, zeros),) * config.predictor_layers
    posterior_state = ((zeros, zeros),) * config.posterior_layers
    prior_state = ((zeros, zeros),) * config.prior_layers
    mse = kl = 0.0
    for t in range(1, frames):
        h, skips = model.encoder(x[:, t - 1])
        target, _ = model.encoder(x[:, t])
        if config.skip == "previous" or t <= config.context_frames:
            skip = skips
        inputs = h
        if config.variant != "deterministic":
            mu, logvar, posterior_state = model.posterior(target, posterior_state)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, dtype=mu.dtype)
            inputs = torch.cat([h, z], dim=1)
            if config.variant == "lp":
                mu_p, logvar_p, prior_state = model.prior(h, prior_state)
                sigma, sigma_p = torch.exp(0.5 * logvar), torch.exp(0.5 * logvar_p)
                kld = torch.log(sigma_p / sigma) + (torch.exp(logvar) + (mu - mu_p) ** 2) / (
                    2 * torch.exp(logvar_p)
                )
                kl = kl + (kld - 0.5).sum() / batch
            else:
                kl = kl - 0.5 * (1 + logvar - mu**2 - torch.exp(logvar)).sum() / batch
        g, predictor_state = model.predictor(inputs, predictor_state)
        mse = mse + F.mse_loss(model.decoder(torch.tanh(g), skip), x[:, t])
    return mse, kl


@pytest.mark.parametrize(
    "variant,backbone,skip",
    [
        ("lp", "dcgan", "last"),
        ("lp", "vgg", "previous"),
        ("fp", "dcgan", "previous"),
        ("deterministic", "vgg", "last"),
    ],
)
def test_batched_training_pass_equals_the_per_frame_loop(variant, backbone, skip):
    model = _model(variant=variant, backbone=backbone, skip=skip, context_frames=3)
    video = _video(frames=5)
    torch.manual_seed(1)
    out = model(video)
    torch.manual_seed(1)
    mse, kl = _reference_loss(model, video)
    torch.testing.assert_close(out["mse"], mse, rtol=0, atol=1e-10)
    kl = torch.as_tensor(kl, dtype=torch.float64)
    torch.testing.assert_close(out["kl"], kl, rtol=0, atol=1e-10)
    torch.testing.assert_close(out["loss"], mse + model.config.beta * kl, rtol=0, atol=1e-10)


@pytest.mark.parametrize("variant,backbone", [("lp", "dcgan"), ("deterministic", "vgg")])
def test_channels_last_training_pass_equals_the_default_layout(variant, backbone):
    """The presets train in channels_last (faster on CPUs): the same loss and gradients as the
    default layout, in float64, in training mode (batch statistics)."""
    video = _video(channels=3 if backbone == "vgg" else 1, frames=4)
    results = []
    for channels_last in (False, True):
        model = _model(variant=variant, backbone=backbone, channels=video.shape[2]).train()
        if channels_last:
            model.to(memory_format=torch.channels_last)
        torch.manual_seed(1)
        out = model(video)
        out["loss"].backward()
        results.append((out["loss"], [p.grad for p in model.parameters()]))
    (loss, grads), (loss_cl, grads_cl) = results
    assert any(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
        for p in model.parameters()
    )
    torch.testing.assert_close(loss_cl, loss, rtol=1e-12, atol=1e-12)
    for grad, grad_cl in zip(grads, grads_cl, strict=True):
        torch.testing.assert_close(grad_cl, grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("skip", ["last", "previous"])
def test_first_generated_frame_equals_the_teacher_forced_prediction(skip):
    model = _model(variant="deterministic", skip=skip, context_frames=3, future_frames=1)
    video = _video(frames=4)
    forced = (model.unroll(video).frames[:, -1] * 255).round().to(torch.uint8)
    torch.testing.assert_close(model.predict(video[:, :3], 1)[:, 0], forced, rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["lp", "fp", "deterministic"])
def test_predict_is_reproducible_from_the_generator(variant):
    """Same seed, same frames; another seed, other frames unless the model has no z. A tiny
    untrained model moves its frames by less than a grey level, so the decoder's float output
    is compared too (and checked to be what the frames quantise)."""
    model = _model(dtype=torch.float32, variant=variant)
    context, decoded = _video()[:, :2], []
    model.decoder.register_forward_hook(lambda net, args, out: decoded.append(out))

    def predict(seed):
        decoded.clear()
        frames = model.predict(context, 4, generator=torch.Generator().manual_seed(seed))
        return frames, torch.stack(decoded, dim=1)  # (B, steps, C, H, W) in [0, 1]

    frames, floats = predict(1)
    again, floats_again = predict(1)
    assert torch.equal(frames, again) and torch.equal(floats, floats_again)
    assert torch.equal(frames, (floats * 255).round().to(torch.uint8))
    assert torch.equal(floats, predict(2)[1]) == (variant == "deterministic")


def test_predict_leaves_the_mode_to_its_caller():
    model = _model(dtype=torch.float32).train()
    model.predict(_video()[:, :2], 1)
    assert all(module.training for module in model.modules())


def test_runs_under_bf16_autocast():
    model = _model(dtype=torch.float32).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_video())
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    out["loss"].backward()


def test_overfits_one_batch():
    """150 Adam steps (the paper's lr 2e-3) on one batch of moving squares cut the loss by at
    least 30x (about 50x seen): from 1.02 to below 0.034, under the 0.14 that black frames
    score (4 steps x 144 / 4096 white pixels), so the model draws the moving squares."""
    torch.manual_seed(0)
    config = SVGConfig(
        hidden_channels=8, g_dim=16, z_dim=2, rnn_size=32, context_frames=2, future_frames=3
    )
    model = SVG(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    video = _moving_squares(5)
    losses = []
    for _ in range(150):
        loss = model(video)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 30, (losses[0], losses[-1])


@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((2, FRAMES - 1, 1, 64, 64), torch.uint8),  # wrong frame count
        ((2, FRAMES, 1, 32, 32), torch.uint8),  # wrong frame size
        ((2, FRAMES, 3, 64, 64), torch.uint8),  # wrong colours
        ((2, 1, 64, 64), torch.uint8),  # not a video
        ((2, FRAMES, 1, 64, 64), torch.float32),  # not uint8
    ],
)
def test_bad_batches_raise_value_error(shape, dtype):
    model = _model(dtype=torch.float32)
    with pytest.raises(ValueError, match="uint8"):
        model(torch.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "context,steps,message",
    [
        (torch.zeros(2, 0, 1, 64, 64, dtype=torch.uint8), 2, r"T >= 1.*\(2, 0, 1, 64, 64\)"),
        (torch.zeros(2, 2, 1, 64, 64), 2, r"as uint8 .* got torch.float32"),  # not uint8
        (torch.zeros(2, 2, 1, 64, 64, dtype=torch.uint8), 0, "steps must be >= 1, got 0"),
    ],
    ids=["no-context-frame", "not-uint8", "nothing-to-generate"],
)
def test_bad_prediction_requests_raise_value_error(context, steps, message):
    with pytest.raises(ValueError, match=message):
        _model(dtype=torch.float32).predict(context, steps)


@pytest.mark.parametrize(
    "field,value",
    [
        ("variant", "gan"),
        ("backbone", "resnet"),
        ("channels", 2),
        ("z_dim", 0),
        ("g_dim", 1.5),
        ("beta", -1.0),
        ("beta", math.inf),
        ("context_frames", 0),
        ("skip", "first"),
    ],
)
def test_config_rejects_a_bad_field_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        SVGConfig(**{field: value})


def test_lstm_steps_equal_torch_lstm():
    """Stepping the stacked cells with explicit state equals nn.LSTM over the whole sequence."""
    torch.manual_seed(0)
    net = DeterministicLSTM(3, 4, hidden_size=5, num_layers=2).double()
    reference = nn.LSTM(5, 5, num_layers=2, batch_first=True).double()
    with torch.no_grad():
        for layer, cell in enumerate(net.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l{layer}").copy_(getattr(cell, name))
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    state, outputs = net.initial_state(x[:, 0]), []
    for t in range(6):
        y, state = net(x[:, t], state)
        outputs.append(y)
    expected = net.output(reference(net.embed(x))[0])
    torch.testing.assert_close(torch.stack(outputs, dim=1), expected)


def test_reparameterize_is_reproducible_and_has_the_right_moments():
    mu, logvar = torch.full((200_000,), 1.5), torch.full((200_000,), math.log(0.25))
    draw = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(3))
    assert torch.equal(draw, reparameterize(mu, logvar, generator=torch.Generator().manual_seed(3)))
    assert abs(draw.mean().item() - 1.5) < 0.01 and abs(draw.std().item() - 0.5) < 0.01


def test_an_interrupted_svg_run_resumes_to_the_uninterrupted_weights(tmp_path):
    """The one training loop serves SVG too: the posterior's noise comes from torch's
    generator, whose state the checkpoint keeps, and batch-norm buffers are weights."""
    from tiny_models import StopAt

    from genvid.data import train_stream
    from genvid.train import TrainConfig, fit, load_weights

    stream = train_stream("moving-mnist-stochastic", seed=3)
    config = TrainConfig(steps=4, batch_size=2, checkpoint_every=2, device="cpu", log_every=1)
    tiny = dict(hidden_channels=2, g_dim=4, z_dim=2, rnn_size=4, beta=0.1)

    def model(seed: int) -> SVG:
        torch.manual_seed(seed)
        return SVG(SVGConfig(**tiny))

    fit(model(0), stream, config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        fit(model(0), StopAt(stream, 3), config, tmp_path / "broken")
    fit(model(7), stream, config, tmp_path / "broken", resume=True)
    expected, got = load_weights(tmp_path / "whole"), load_weights(tmp_path / "broken")
    assert any("running_mean" in key for key in expected)
    assert all(torch.equal(expected[key], got[key]) for key in expected)
