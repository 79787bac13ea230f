"""Temperature and completion for every raster sampler: temperature 1 is the plain sampler,
the cached path draws what the naive one draws, given pixels stay, the rest depends on them."""

from __future__ import annotations

import pytest
import torch

import genvid

MODELS = {
    "pixelcnn": ("pixelcnn-mnist", dict(hidden_channels=4, num_layers=2, output_channels=6)),
    "pixelcnn-rgb": (
        "pixelcnn-mnist",
        dict(
            hidden_channels=6, num_layers=2, output_channels=6, channels=3, likelihood="categorical"
        ),
    ),
    "row-lstm": ("row-lstm-mnist", dict(hidden_channels=3, num_layers=2, output_channels=4)),
    "diagonal": ("diagonal-bilstm-mnist", dict(hidden_channels=3, num_layers=2, output_channels=4)),
    "multiscale": (
        "multiscale-pixelrnn-mnist",
        dict(hidden_channels=3, num_layers=1, output_channels=4, condition_channels=3),
    ),
}
SIZE = (4, 6)


def tiny(name: str):
    preset, overrides = MODELS[name]
    torch.manual_seed(0)
    return genvid.create(preset, **overrides).double()


def draw(model, fast: bool = True, seed: int = 3, n: int = 2, **kwargs):
    return model.sample(n, SIZE, generator=torch.Generator().manual_seed(seed), fast=fast, **kwargs)


def top_half(model, seed: int = 11, n: int = 2):
    channels = model.config.channels
    top = torch.randint(
        0,
        2 if model.likelihood.max_value == 1 else 256,
        (n, channels, *SIZE),
        generator=torch.Generator().manual_seed(seed),
    ).to(torch.uint8)
    mask = torch.zeros(SIZE, dtype=torch.bool)
    mask[: SIZE[0] // 2] = True
    return top, mask


@pytest.mark.parametrize("name", MODELS)
def test_temperature_one_is_the_plain_sampler_and_others_agree_cached_and_naive(name):
    model = tiny(name)
    assert torch.equal(draw(model), draw(model, temperature=1.0))
    cold = [draw(model, fast=fast, temperature=0.3) for fast in (False, True)]
    assert torch.equal(cold[0], cold[1])
    assert not torch.equal(cold[1], draw(model))  # the temperature changes the draws
    with pytest.raises(ValueError, match="temperature must be > 0"):
        draw(model, temperature=0.0)


@pytest.mark.parametrize("name", MODELS)
def test_completion_keeps_given_pixels_and_draws_the_rest_conditioned_on_them(name):
    model = tiny(name)
    start, mask = top_half(model)
    completed = [draw(model, fast=fast, start=start, given=mask) for fast in (False, True)]
    assert torch.equal(completed[0], completed[1])  # the cache sees the given pixels
    kept = mask.expand_as(start)
    assert torch.equal(completed[1][kept], start[kept])
    # The same noise and another given top: the rest changes (64 images and weights scaled
    # up, so that an untrained model's probabilities move enough to change some draws).
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(3.0)
    firsts, seconds = top_half(model, seed=12, n=64), top_half(model, seed=13, n=64)
    one = draw(model, n=64, start=firsts[0], given=mask)
    two = draw(model, n=64, start=seconds[0], given=mask)
    assert not torch.equal(one[:, :, ~mask], two[:, :, ~mask])


def test_low_temperature_concentrates_the_draws():
    model = tiny("pixelcnn")
    hot = torch.stack([draw(model, seed=s, temperature=3.0) for s in range(6)]).float()
    cold = torch.stack([draw(model, seed=s, temperature=0.05) for s in range(6)]).float()
    assert cold.std(0).mean() < hot.std(0).mean()


def tiny_vpn(**overrides):
    torch.manual_seed(0)
    return genvid.create(
        "vpn-micro",
        hidden_channels=4,
        encoder_blocks=1,
        decoder_blocks=1,
        lstm_channels=4,
        **overrides,
    ).double()


def test_vpn_frames_take_a_temperature_cached_and_naive_alike():
    model = tiny_vpn()
    context = torch.randint(0, 256, (2, 2, 1, 4, 4), dtype=torch.uint8)

    def sample(fast: bool, temperature: float):
        generator = torch.Generator().manual_seed(5)
        return model.sample(
            context=context, steps=2, generator=generator, fast=fast, temperature=temperature
        )

    assert torch.equal(
        sample(True, 1.0),
        model.sample(context=context, steps=2, generator=torch.Generator().manual_seed(5)),
    )
    assert torch.equal(sample(False, 0.5), sample(True, 0.5))
    assert not torch.equal(sample(True, 0.5), sample(True, 1.0))


@pytest.mark.parametrize("baseline", [False, True])
def test_vpn_completes_the_first_frame_from_its_given_pixels(baseline):
    model = tiny_vpn(baseline=baseline)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(3.0)  # probabilities that move enough to change draws
    context = torch.randint(0, 256, (32, 1, 1, *SIZE), dtype=torch.uint8)
    mask = torch.zeros(SIZE, dtype=torch.bool)
    mask[: SIZE[0] // 2] = True

    def complete(seed: int, fast: bool = True):
        start = torch.randint(0, 256, (32, 1, *SIZE), generator=torch.Generator().manual_seed(seed))
        generator = torch.Generator().manual_seed(5)
        frames = model.sample(
            context=context, steps=2, generator=generator, fast=fast, start=start.byte(), given=mask
        )
        return start.byte(), frames

    start, frames = complete(1)
    assert torch.equal(frames[:, 0][mask.expand_as(start)], start[mask.expand_as(start)])
    if not baseline:  # the raster decoder reads the given pixels; the baseline cannot
        assert torch.equal(complete(1, fast=False)[1], frames)
        other = complete(2)[1]
        assert not torch.equal(other[:, 0][:, :, ~mask], frames[:, 0][:, :, ~mask])
