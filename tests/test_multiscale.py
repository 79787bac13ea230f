import itertools

import pytest
import torch
from causality import assert_raster_causal

import genvid

TINY = dict(hidden_channels=3, num_layers=1, output_channels=4, condition_channels=3)


def _tiny(**overrides):
    torch.manual_seed(0)
    model = genvid.create("multiscale-pixelrnn-mnist", **{**TINY, **overrides}).double()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.normal_(0, 0.3)
    return model


@pytest.mark.parametrize("layer", ["row", "diagonal"])
def test_probabilities_of_every_binary_4x4_image_sum_to_one(layer):
    """2^16 images; the 2x2 subsampled image is scored by the small model only."""
    model = _tiny(layer=layer).eval()
    grid = torch.tensor(list(itertools.product((0, 1), repeat=16)), dtype=torch.uint8)
    with torch.no_grad():
        total = sum(
            model.log_prob(chunk).exp().sum() for chunk in grid.view(-1, 1, 4, 4).split(16384)
        )
    torch.testing.assert_close(total.item(), 1.0, rtol=0, atol=1e-9)


def test_nll_splits_into_the_small_model_and_the_conditional_one():
    model = _tiny(channels=3, likelihood="categorical")
    x = torch.randint(0, 256, (2, 3, 4, 6), dtype=torch.uint8)
    with torch.no_grad():
        nll = model.nll(x)
        small = x[:, :, ::2, ::2]
        torch.testing.assert_close(nll[:, :, ::2, ::2], model.small.nll(small))
        large = model.large.nll(x, model.condition(small))
        torch.testing.assert_close(nll[:, :, 1::2], large[:, :, 1::2])
        torch.testing.assert_close(nll[:, :, ::2, 1::2], large[:, :, ::2, 1::2])


@pytest.mark.parametrize("layer", ["row", "diagonal"])
def test_both_networks_are_causal_given_the_small_image(layer):
    model = _tiny(layer=layer, channels=3)
    x = torch.randint(0, 2, (2, 3, 4, 4), dtype=torch.uint8)
    condition = model.condition(torch.randint(0, 2, (2, 3, 2, 2), dtype=torch.uint8))
    with torch.no_grad():
        assert_raster_causal(lambda v: model.large.params(v, condition), x, 1, 1)
        assert_raster_causal(model.small.params, x, 1, 1)


@pytest.mark.parametrize("layer", ["row", "diagonal"])
def test_fast_sampling_equals_naive_and_keeps_the_small_image(layer):
    model = _tiny(layer=layer, channels=3, likelihood="categorical")
    draws = [
        model.sample(2, (4, 6), generator=torch.Generator().manual_seed(3), fast=fast)
        for fast in (False, True)
    ]
    assert torch.equal(draws[0], draws[1]) and draws[0].float().std() > 0
    small = model.small.sample(2, (2, 3), generator=torch.Generator().manual_seed(3))
    assert torch.equal(draws[0][:, :, ::2, ::2], small)  # drawn first, from the same stream


def test_overfits_one_batch():
    from genvid.data import load_binarized_mnist

    torch.manual_seed(0)
    batch = load_binarized_mnist("test")[:8, :, 6:22, 6:22].contiguous()
    model = genvid.create("multiscale-pixelrnn-mnist", hidden_channels=8, num_layers=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model(batch)["loss"].item()
    for _ in range(60):
        loss = model(batch)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.33 * first, (first, loss.item())


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="factor must be >= 2"):
        genvid.create("multiscale-pixelrnn-mnist", factor=1)
    with pytest.raises(ValueError, match="layer must be"):
        genvid.create("multiscale-pixelrnn-mnist", layer="column")
