import itertools

import pytest
import torch
from causality import assert_raster_causal

import genvid

TINY = dict(hidden_channels=4, num_layers=2, output_channels=6)


def _tiny(**overrides):
    torch.manual_seed(0)
    return genvid.create("pixelcnn-mnist", **{**TINY, **overrides}).double()


@pytest.mark.parametrize(
    "channels,likelihood,max_value",
    [(1, "bernoulli", 1), (3, "bernoulli", 1), (3, "categorical", 255), (1, "soft_bernoulli", 255)],
)
def test_pixelcnn_is_causal_at_every_position_and_colour(channels, likelihood, max_value):
    model = _tiny(channels=channels, likelihood=likelihood)
    x = torch.randint(0, max_value + 1, (2, channels, 4, 4), dtype=torch.uint8)
    per_value = model.likelihood.params_per_value
    assert_raster_causal(model.params, x, per_value, max_value)


def test_dropout_keeps_training_causal_and_leaves_evaluation_unchanged():
    model = _tiny(channels=3, likelihood="categorical", dropout=0.5)
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)

    def params_with_one_mask(images):  # the same seed: the same dropout mask every call
        torch.manual_seed(1)
        return model.train().params(images)

    assert_raster_causal(params_with_one_mask, x, model.likelihood.params_per_value, 255)
    plain = _tiny(channels=3, likelihood="categorical")  # the same weights, no dropout
    with torch.no_grad():
        assert torch.equal(model.eval().params(x), plain.eval().params(x))
        assert not torch.allclose(params_with_one_mask(x), plain.params(x))  # it does drop


def test_dropout_outside_zero_to_one_is_refused():
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout must be in"):
            _tiny(dropout=rate)


def _all_images(channels, height, width, values):
    dims = channels * height * width
    grid = torch.tensor(list(itertools.product(range(values), repeat=dims)), dtype=torch.uint8)
    return grid.reshape(-1, channels, height, width)


@pytest.mark.parametrize(
    "channels,size,likelihood,values",
    [(1, (3, 3), "bernoulli", 2), (3, (2, 2), "bernoulli", 2), (1, (1, 2), "categorical", 256)],
)
def test_probabilities_of_every_image_sum_to_one(channels, size, likelihood, values):
    model = _tiny(channels=channels, likelihood=likelihood).eval()
    images = _all_images(channels, *size, values)
    with torch.no_grad():
        total = torch.cat([model.log_prob(chunk).exp() for chunk in images.split(8192)]).sum()
    torch.testing.assert_close(total.item(), 1.0, rtol=0, atol=1e-9)


# Every (first_kernel_size, kernel_size) pair; the cache margin max(...) // 2 is 0 for 1x1.
SAMPLER_CASES = [
    pytest.param(channels, likelihood, first, kernel, id=f"{likelihood}-{first}x{kernel}")
    for channels, likelihood in ((1, "bernoulli"), (3, "categorical"))
    for first, kernel in itertools.product((1, 3, 7), repeat=2)
    if channels == 3 or first > 1  # a 1x1 mask-A layer with one colour group sees nothing
]


@pytest.mark.parametrize("channels,likelihood,first,kernel", SAMPLER_CASES)
def test_fast_sampling_equals_naive_with_the_same_generator(channels, likelihood, first, kernel):
    model = _tiny(
        channels=channels, likelihood=likelihood, first_kernel_size=first, kernel_size=kernel
    )
    draws = [
        model.sample(3, (4, 5), generator=torch.Generator().manual_seed(7), fast=fast)
        for fast in (False, True)
    ]
    assert torch.equal(draws[0], draws[1])
    assert draws[0].float().std() > 0


def test_overfits_one_batch():
    """16 fixed test digits: the loss falls from ~520 to well below any test NLL (memorised)."""
    from genvid.data import load_binarized_mnist

    torch.manual_seed(0)
    batch = load_binarized_mnist("test")[:16]
    model = genvid.create("pixelcnn-mnist", hidden_channels=16, num_layers=3)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model(batch)["loss"].item()
    for _ in range(300):
        loss = model(batch)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 70.0 < 0.15 * first, (first, loss.item())


def test_create_applies_overrides_and_rejects_bad_ones():
    model = genvid.create("pixelcnn-mnist", channels=3, likelihood="categorical")
    assert model.config.channels == 3 and model.likelihood.name == "categorical"
    with pytest.raises(ValueError, match="no field 'colours'"):
        genvid.create("pixelcnn-mnist", colours=3)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        genvid.create("pixelcnn-mnist", channels=2)
    with pytest.raises(ValueError, match="unknown preset"):
        genvid.create("pixelcnn-imagenet")
    with pytest.raises(ValueError, match=r"expected images \[B, 1, H, W\]"):
        genvid.create("pixelcnn-mnist").nll(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
