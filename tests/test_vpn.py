import itertools

import pytest
import torch

import genvid
from genvid.data import MovingMNISTStream, TensorStream, entropy_per_sequence, load_mnist
from genvid.models.vpn import VideoPixelNetwork, VPNConfig
from genvid.nn.likelihoods import SoftBernoulli

TINY = dict(hidden_channels=4, encoder_blocks=2, decoder_blocks=2, lstm_channels=4)
VPN_PRESETS = [name for name in genvid.presets() if name.startswith("vpn-")]


def _tiny(**overrides):
    torch.manual_seed(0)
    return VideoPixelNetwork(VPNConfig(**{**TINY, **overrides})).double().eval()


def assert_video_causal(params_fn, video, per_value, max_value, *, own_frame=True):
    """Changing value d never changes the distribution of any value <= d in (time, row,
    column, colour) order; with `own_frame=False` (the baseline) nor of any value of d's frame.
    Also asserts the check is not vacuous: some later value (if `own_frame`, one in the same
    frame as d) does change.
    """
    b, frames, channels, height, width = video.shape
    base = params_fn(video).reshape(b, frames, channels, per_value, height, width)
    order = torch.arange(base[0, ..., 0, :, :].numel()).reshape(frames, height, width, channels)
    order = order.permute(0, 3, 1, 2)  # (T, C, H, W): position of each value in the ordering
    frame_of = torch.arange(frames)[:, None, None, None].expand_as(order)
    later_in_time, later_in_frame = False, False
    for t, c, i, j in itertools.product(
        range(frames), range(channels), range(height), range(width)
    ):
        changed = video.clone()
        changed[:, t, c, i, j] = (changed[:, t, c, i, j].long() + 1 + max_value // 2) % (
            max_value + 1
        )
        new = params_fn(changed).reshape(base.shape)
        moved = (new - base).abs().amax(dim=(0, 3)) > 1e-10  # (T, C, H, W)
        forbidden = order <= order[t, c, i, j]
        if not own_frame:
            forbidden |= frame_of == t
        bad = (moved & forbidden).nonzero()
        if len(bad):
            raise AssertionError(
                f"value (t, c, i, j) = {bad[0].tolist()} depends on {(t, c, i, j)}"
            )
        later_in_time |= bool((moved & (frame_of > t)).any())
        later_in_frame |= bool((moved & (frame_of == t)).any())
    assert later_in_time, "no value depends on an earlier frame: the check is vacuous"
    assert later_in_frame == own_frame, "dependence within a frame is not as expected"


@pytest.mark.parametrize(
    "channels,likelihood,max_value,unit,dilation",
    [
        (1, "soft_bernoulli", 255, "mu", False),
        (3, "categorical", 255, "mu", True),
        (3, "bernoulli", 1, "relu", False),
    ],
)
def test_vpn_is_causal_in_time_rows_columns_and_colours(
    channels, likelihood, max_value, unit, dilation
):
    model = _tiny(channels=channels, likelihood=likelihood, unit=unit, dilation=dilation)
    size = (4, 4) if channels == 1 else (3, 3)
    video = torch.randint(0, max_value + 1, (2, 3, channels, *size), dtype=torch.uint8)
    per_value = model.likelihood.params_per_value
    assert_video_causal(model.params, video, per_value, max_value)


@pytest.mark.parametrize("channels", [1, 3])
def test_baseline_depends_on_no_value_of_its_own_frame(channels):
    model = _tiny(channels=channels, likelihood="bernoulli", baseline=True)
    video = torch.randint(0, 2, (2, 3, channels, 4, 4), dtype=torch.uint8)
    assert_video_causal(model.params, video, 1, 1, own_frame=False)


def _all_frames(channels, height, width, values):
    dims = channels * height * width
    grid = torch.tensor(list(itertools.product(range(values), repeat=dims)), dtype=torch.uint8)
    return grid.reshape(-1, channels, height, width)


@pytest.mark.parametrize(
    "channels,size,likelihood,values,baseline",
    [
        (1, (3, 3), "bernoulli", 2, False),
        (3, (1, 2), "bernoulli", 2, False),
        (1, (1, 2), "categorical", 256, False),
        (1, (3, 3), "bernoulli", 2, True),
    ],
)
def test_probabilities_of_every_next_frame_sum_to_one(channels, size, likelihood, values, baseline):
    # Without dilation: rate-8 taps would pad these tiny frames 20-fold for nothing.
    model = _tiny(channels=channels, likelihood=likelihood, baseline=baseline, dilation=False)
    context = torch.randint(0, values, (1, 2, channels, *size), dtype=torch.uint8)
    frames = _all_frames(channels, *size, values)[:, None]  # (N, 1, C, H, W)
    with torch.no_grad():
        total = sum(
            model.log_prob(chunk, context.expand(len(chunk), -1, -1, -1, -1)).exp().sum()
            for chunk in frames.split(16384)
        )
    torch.testing.assert_close(total.item(), 1.0, rtol=0, atol=1e-9)


def test_probabilities_of_every_whole_video_sum_to_one():
    """Without context, frame 0 follows an all-zero frame: 2 frames of 2x2 binary, 256 videos."""
    model = _tiny(likelihood="bernoulli", dilation=False)
    videos = _all_frames(1, 2, 2, 2)
    videos = torch.stack(torch.broadcast_tensors(videos[:, None], videos[None, :]), 2)
    videos = videos.flatten(0, 1)  # (256, 2, 1, 2, 2)
    with torch.no_grad():
        total = model.log_prob(videos).exp().sum()
    torch.testing.assert_close(total.item(), 1.0, rtol=0, atol=1e-9)


def test_context_gives_the_same_nll_as_the_whole_video():
    model = _tiny()
    video = torch.randint(0, 256, (2, 5, 1, 4, 4), dtype=torch.uint8)
    torch.testing.assert_close(model.nll(video)[:, 2:], model.nll(video[:, 2:], video[:, :2]))


@pytest.mark.parametrize(
    "channels,likelihood", [(3, "categorical"), (1, "soft_bernoulli"), (1, "bernoulli")]
)
def test_fast_sampling_equals_naive_with_the_same_generator(channels, likelihood):
    model = _tiny(channels=channels, likelihood=likelihood)
    top = model.likelihood.max_value
    context = torch.randint(0, top + 1, (2, 2, channels, 4, 3), dtype=torch.uint8)
    draws = [
        model.sample(context=context, steps=2, generator=torch.Generator().manual_seed(3), fast=f)
        for f in (False, True)
    ]
    assert draws[0].shape == (2, 2, channels, 4, 3) and draws[0].dtype == torch.uint8
    assert torch.equal(draws[0], draws[1])
    assert draws[0].float().std() > 0


def test_samples_without_context_and_bad_arguments():
    model = _tiny(baseline=True)
    videos = model.sample(3, (5, 4), steps=2, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (3, 2, 1, 5, 4) and set(videos.unique().tolist()) <= {0, 255}
    with pytest.raises(ValueError, match="needs context"):
        model.sample(steps=2)
    with pytest.raises(ValueError, match="not both"):
        model.sample(2, (4, 4), context=torch.zeros(2, 1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"expected x as videos \[B, T, 1, H, W\]"):
        model.nll(torch.zeros(2, 1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="does not match"):
        model.nll(torch.zeros(2, 1, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, 1, 1, 4, 5))


def test_checkpointed_activations_give_the_plain_loss_and_gradients():
    plain = _tiny(dilation=False).train()
    saving = _tiny(dilation=False, checkpoint_activations=True).train()
    saving.load_state_dict(plain.state_dict())
    batch = torch.randint(0, 256, (2, 4, 1, 4, 4), dtype=torch.uint8)
    losses = [model(batch)["loss"] for model in (plain, saving)]
    for loss in losses:
        loss.backward()
    torch.testing.assert_close(losses[0], losses[1])
    for (name, a), b in zip(plain.named_parameters(), saving.parameters(), strict=True):
        assert a.grad is not None and a.grad.abs().sum() > 0, name
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def _truncated_reference(model, batch, given, window, context_grad):
    """The full graph, written out step by step, with the state detached where the training
    options say: entering the scored frames (context_grad=False) and every `window` frames."""
    zero, state = model._initial(batch)
    previous = torch.cat([zero[:, None], batch[:, :-1]], dim=1)
    outputs = []
    for t in range(batch.shape[1]):
        cut = (t == given and not context_grad) or (
            window and t > given and (t - given) % window == 0
        )
        if cut:
            state = (state[0].detach(), state[1].detach())
        state = model._advance(previous[:, t], *state)
        if t >= given:
            outputs.append(state[0])
    scored = batch[:, given:]
    params = model.decode(torch.stack(outputs, 1).flatten(0, 1), scored.flatten(0, 1))
    return model.likelihood.nll(params, scored.flatten(0, 1)).sum(dim=(1, 2, 3)).mean()


@pytest.mark.parametrize("checkpointed", [False, True])
@pytest.mark.parametrize(("context_grad", "window"), [(False, 0), (True, 2), (False, 2)])
def test_truncated_backpropagation_equals_the_full_graph_detached_there(
    context_grad, window, checkpointed
):
    given = 3
    options = dict(train_context_frames=given, context_grad=context_grad, window=window)
    model = _tiny(dilation=False, checkpoint_activations=checkpointed, **options).train()
    batch = torch.randint(0, 256, (2, 8, 1, 4, 4), dtype=torch.uint8)
    loss = model(batch)["loss"]
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    expected = _truncated_reference(model, batch, given, window, context_grad)
    expected_grads = torch.autograd.grad(expected, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
    for (name, _), got, want in zip(model.named_parameters(), grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12, msg=name)
    full = _tiny(dilation=False, train_context_frames=given).train()
    full.load_state_dict(model.state_dict())
    full_loss = full(batch)["loss"]
    torch.testing.assert_close(loss, full_loss, rtol=1e-12, atol=0)  # the same loss
    full_grads = torch.autograd.grad(full_loss, list(full.parameters()))
    assert any(not torch.allclose(a, b) for a, b in zip(grads, full_grads, strict=True))


def test_truncated_training_resumed_after_a_kill_equals_the_uninterrupted_run(tmp_path):
    """`fit` with context_grad=False and window=2: killed after 3 updates and resumed into a
    differently initialised model, it ends with the uninterrupted run's weights, bit for bit."""
    from tiny_models import StopAt

    from genvid.train import TrainConfig, fit, load_weights

    videos = torch.randint(0, 256, (6, 6, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    stream = TensorStream(videos.to(torch.uint8), seed=0)
    config = TrainConfig(
        steps=6, batch_size=2, lr=1e-2, device="cpu", checkpoint_every=3, log_every=1
    )
    spec = {"model": {"preset": "tiny-vpn", "overrides": {}}, "data": {"name": "tiny"}}
    options = dict(dilation=False, train_context_frames=2, context_grad=False, window=2)

    def model(noise: float = 0.0):
        net = _tiny(**options).float().train()
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.add_(noise)
        return net

    fit(model(), stream, config, tmp_path / "whole", spec=spec)
    with pytest.raises(KeyboardInterrupt):
        fit(model(), StopAt(stream, 4), config, tmp_path / "broken", spec=spec)
    fit(model(noise=0.5), stream, config, tmp_path / "broken", spec=spec, resume=True)
    expected, got = load_weights(tmp_path / "whole"), load_weights(tmp_path / "broken")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_soft_bernoulli_loss_equals_the_data_entropy_when_predictions_equal_targets():
    videos = genvid.data.regenerate_test_set(3)  # (3, 20, 1, 64, 64)
    p = videos[:, 10:].double() / 255
    logits = torch.logit(p).clamp(-60, 60)  # 0 and 1 exactly: a finite, saturated logit
    nats = SoftBernoulli().nll(logits, videos[:, 10:]).sum(dim=(2, 3, 4)).mean(1)
    torch.testing.assert_close(nats.numpy(), entropy_per_sequence(videos), rtol=1e-9, atol=1e-9)


def test_overfits_one_sequence():
    """One Moving MNIST training sequence (4 frames, pooled to 16x16), streamed as `--overfit`
    would: a `TensorStream` over that one sequence. The loss (~225 nats/frame at the start)
    comes within a tenth of the way to the sequence's entropy bound (~16)."""
    digits, _ = load_mnist("train")
    sequence = MovingMNISTStream(digits, seed=0, num_frames=4).batch(0, 1)  # (1, 4, 1, 64, 64)
    pooled = torch.nn.functional.avg_pool2d(sequence.flatten(0, 1).float(), 4)
    sequence = pooled.round().to(torch.uint8).unflatten(0, (1, 4))  # (1, 4, 1, 16, 16)
    stream = TensorStream(sequence, seed=0)
    torch.manual_seed(0)
    model = VideoPixelNetwork(
        VPNConfig(hidden_channels=8, encoder_blocks=1, decoder_blocks=2, lstm_channels=8)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    bound = float(entropy_per_sequence(sequence, context=1)[0])
    first = None
    for step in range(60):
        batch = stream.batch(step, 1)
        assert torch.equal(batch, sequence)
        loss = model(batch)["loss"]
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    excess = loss.item() - bound
    assert excess < 0.1 * (first - bound), (first, loss.item(), bound)


def test_config_rejects_bad_fields():
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        VPNConfig(channels=2)
    with pytest.raises(ValueError, match="unit must be"):
        VPNConfig(unit="tanh")
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        VPNConfig(kernel_size=4)
    with pytest.raises(ValueError, match="decoder_blocks must be >= 1"):
        VPNConfig(decoder_blocks=0)
    with pytest.raises(ValueError, match="unknown likelihood"):
        VPNConfig(likelihood="gaussian")
    with pytest.raises(ValueError, match="T > 1"):
        _tiny()(torch.zeros(2, 1, 1, 4, 4, dtype=torch.uint8))


def test_there_are_vpn_presets():
    assert {"vpn-full", "vpn-mini", "vpn-micro", "vpn-baseline"} <= set(VPN_PRESETS)


def test_presets_have_the_sizes_of_the_issue():
    sizes = {
        name: (c.hidden_channels, c.encoder_blocks, c.decoder_blocks, c.lstm_channels, c.baseline)
        for name in ("vpn-full", "vpn-mini", "vpn-micro", "vpn-baseline")
        for c in [genvid.create(name).config]
    }
    assert sizes == {
        "vpn-full": (128, 8, 12, 256, False),
        "vpn-mini": (32, 4, 6, 64, False),
        "vpn-micro": (32, 2, 3, 64, False),
        "vpn-baseline": (128, 8, 12, 256, True),
    }
    model = genvid.create("vpn-micro", dilation=False, unit="relu", checkpoint_activations=True)
    assert model.config.likelihood == "soft_bernoulli"
    assert [block.units[0].conv.dilation[0] for block in genvid.create("vpn-full").encoder] == [
        1, 2, 4, 8, 1, 2, 4, 8
    ]  # fmt: skip


@pytest.mark.parametrize("preset", VPN_PRESETS)
def test_shapes_of_every_preset_on_small_frames(preset):
    """Every preset's structure (blocks, dilation, baseline), narrowed to keep the test fast."""
    torch.manual_seed(0)
    model = genvid.create(preset, hidden_channels=8, lstm_channels=8)
    top = model.likelihood.max_value
    video = torch.randint(0, top + 1, (2, 3, 1, 5, 4), dtype=torch.uint8)
    nll = model.nll(video[:, 1:], video[:, :1])
    assert nll.shape == (2, 2, 1, 5, 4) and nll.dtype == torch.float32
    out = model(video)
    assert out["loss"].shape == () and torch.isfinite(out["loss"])
    torch.testing.assert_close(out["loss"], nll.sum(dim=(2, 3, 4)).mean())
    samples = model.sample(context=video[:, :1, :, :2, :3], steps=1)
    assert samples.shape == (2, 1, 1, 2, 3) and samples.dtype == torch.uint8
    assert int(samples.max()) <= top
