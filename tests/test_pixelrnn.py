import itertools
import math

import numpy as np
import pytest
import torch
from causality import assert_raster_causal
from PIL import Image

import genvid
from genvid.data import load_binarized_mnist, load_cifar10, write_cifar10_batch

TINY = dict(hidden_channels=3, num_layers=2, output_channels=6)


def _tiny(layer="diagonal", **overrides):
    torch.manual_seed(0)
    model = genvid.create("diagonal-bilstm-mnist", layer=layer, **{**TINY, **overrides}).double()
    with torch.no_grad():  # non-zero initial states and biases: nothing hides behind a zero
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.normal_(0, 0.3)
    return model


def _all_images(channels, height, width, values):
    dims = channels * height * width
    grid = torch.tensor(list(itertools.product(range(values), repeat=dims)), dtype=torch.uint8)
    return grid.reshape(-1, channels, height, width)


@pytest.mark.parametrize("layer", ["row", "diagonal"])
@pytest.mark.parametrize(
    "channels,likelihood,max_value,switches",
    [
        (1, "bernoulli", 1, {}),
        (3, "bernoulli", 1, {"residual": False}),
        (3, "categorical", 255, {"skip": False}),
    ],
)
def test_pixelrnn_is_causal_at_every_position_and_colour(
    layer, channels, likelihood, max_value, switches
):
    model = _tiny(layer, channels=channels, likelihood=likelihood, **switches)
    x = torch.randint(0, max_value + 1, (2, channels, 4, 4), dtype=torch.uint8)
    with torch.no_grad():
        assert_raster_causal(model.params, x, model.likelihood.params_per_value, max_value)


@pytest.mark.parametrize("layer", ["row", "diagonal"])
@pytest.mark.parametrize("channels,size", [(1, (3, 3)), (3, (2, 2))])
def test_probabilities_of_every_binary_image_sum_to_one(layer, channels, size):
    model = _tiny(layer, channels=channels).eval()
    images = _all_images(channels, *size, 2)
    with torch.no_grad():
        total = torch.cat([model.log_prob(chunk).exp() for chunk in images.split(8192)]).sum()
    torch.testing.assert_close(total.item(), 1.0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("layer", ["row", "diagonal"])
@pytest.mark.parametrize(
    "switches",
    [{}, {"residual": False}, {"skip": False}, {"first_kernel_size": 1, "kernel_size": 1}],
    ids=["default", "no-residual", "no-skip", "margin-0"],
)
def test_fast_sampling_equals_naive_with_the_same_generator(layer, switches):
    model = _tiny(layer, channels=3, likelihood="categorical", **switches)
    draws = [
        model.sample(2, (4, 5), generator=torch.Generator().manual_seed(7), fast=fast)
        for fast in (False, True)
    ]
    assert torch.equal(draws[0], draws[1])
    assert draws[0].float().std() > 0


def _written_out_params(model, x):
    """The network from its parts (section 3.3): the residual stream carries input + layer
    output to the next layer; the skip path sums every layer's own output, before the add."""
    hidden = model.input_layer(x.double() * (2.0 / model.likelihood.max_value) - 1.0)
    outputs = []
    for block in model.blocks:
        out = block.output(block.lstm(hidden))
        outputs.append(out)
        hidden = hidden + out if model.config.residual else out
    features = sum(outputs) if model.config.skip else hidden
    return model.head.params(torch.relu(model.head.hidden(torch.relu(features))))


@pytest.mark.parametrize("layer", ["row", "diagonal"])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("skip", [True, False])
def test_skips_sum_layer_outputs_and_the_residual_stream_adds_them(layer, residual, skip):
    model = _tiny(layer, num_layers=3, residual=residual, skip=skip)
    x = torch.randint(0, 2, (2, 1, 5, 4), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(model.params(x), _written_out_params(model, x))


def _seen_by_rule(i, j, height, width, m):
    """Image pixels the output at (i, j) can depend on, composed from two receptive fields:
    - a stack of Diagonal BiLSTM layers at (i, j) reads its input maps at every pixel up to
      (i, j) in raster order (its left-to-right direction the quadrant up and left, its
      right-to-left direction, shifted down a row, the quadrant above and right);
    - the (2m + 1)^2 mask-A input layer's map at (r, c) reads the image at rows r - m .. r - 1,
      columns c - m .. c + m, and at row r, columns c - m .. c - 1 (one colour: not (r, c))."""
    seen = set()
    for r, c in itertools.product(range(height), range(width)):
        if (r, c) <= (i, j):
            seen |= {(r - dr, c + dc) for dr in range(1, m + 1) for dc in range(-m, m + 1)}
            seen |= {(r, c - dc) for dc in range(1, m + 1)}
    return {(r, c) for r, c in seen if 0 <= r < height and 0 <= c < width}


@pytest.mark.parametrize("i,j", [(4, 0), (4, 3), (4, 4), (1, 2), (7, 7)])
def test_diagonal_bilstm_sees_every_earlier_pixel_but_the_end_of_the_row_above(i, j):
    """The pixels the parameters at (i, j) depend on: non-zero float64 gradients (a masked or
    unreachable path gives exactly zero), over 3 random images so no ReLU hides a path."""
    height = width = 8
    m = 3  # the 7x7 first layer of the presets
    model = _tiny("diagonal", first_kernel_size=2 * m + 1)
    x = torch.rand(3, 1, height, width, dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(model.params(x)[:, :, i, j].sum(), x)
    seen = {tuple(p) for p in (gradient.abs().sum((0, 1)) > 0).nonzero().tolist()}
    assert seen == _seen_by_rule(i, j, height, width, m)
    # The consequence the DiagonalBiLSTM docstring states: all earlier pixels but one.
    earlier = set(itertools.product(range(i), range(width))) | {(i, c) for c in range(j)}
    blind = {(i - 1, width - 1)} if j < width - 1 - m else set()
    assert seen == earlier - blind


@pytest.mark.parametrize("preset", ["row-lstm-mnist", "diagonal-bilstm-mnist"])
def test_overfits_one_batch(preset):
    """8 fixed test digits (cropped to their middle 16x16): the loss falls below a third."""
    torch.manual_seed(0)
    batch = load_binarized_mnist("test")[:8, :, 6:22, 6:22].contiguous()
    model = genvid.create(preset, hidden_channels=8, num_layers=2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model(batch)["loss"].item()
    for _ in range(60):
        loss = model(batch)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.33 * first, (first, loss.item())


@pytest.mark.parametrize("preset", ["row-lstm-cifar10", "diagonal-bilstm-cifar10"])
def test_cifar10_presets_train_evaluate_and_sample_on_cifar_files(preset, tmp_path):
    from genvid import runs

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=generator)
    for k in range(5):
        write_cifar10_batch(tmp_path / "data" / f"data_batch_{k + 1}", images, [k] * 4)
    write_cifar10_batch(tmp_path / "data" / "test_batch", images[:2], [0, 1])
    assert torch.equal(load_cifar10(tmp_path / "data", "test")[0], images[:2])
    run = tmp_path / "run"
    overrides = dict(hidden_channels=3, num_layers=1, output_channels=3)
    options = dict(steps=2, batch_size=2, device="cpu", log_every=1, checkpoint_every=2)
    spec = runs.Run.new(
        preset, overrides=overrides, data="cifar10", root=str(tmp_path / "data"), train=options
    )
    result = runs.start_run(spec, run)
    assert result.step == 2
    report, _, _ = runs.evaluate_run(run, limit=2, device="cpu")
    model, _, step = runs.load_run_model(run, torch.device("cpu"))
    with torch.no_grad():
        nats = -model.log_prob(images[:2]).double()  # the test batch: the first two images
    assert step == 2 and report["count"] == 2 and report["dims"] == 3 * 32 * 32
    assert report["nll_nats"] == pytest.approx(nats.mean().item(), rel=1e-5)
    assert report["nll_nats_stderr"] == pytest.approx(nats.std().item() / 2**0.5, rel=1e-4)
    assert report["bits_per_dim"] == pytest.approx(nats.mean().item() / (3072 * math.log(2)))
    png = runs.sample_run(run, tmp_path / "s.png", count=1, size="4x4", device="cpu")
    expected = model.sample(1, (4, 4), generator=torch.Generator().manual_seed(0))
    with Image.open(png) as image:
        assert image.size == (4 + 2 * 2, 4 + 2 * 2)  # one 4x4 image, 2-pixel padding
        drawn = torch.from_numpy(np.asarray(image)).permute(2, 0, 1)[:, 2:6, 2:6]
    assert torch.equal(drawn, expected[0])


def test_create_applies_overrides_and_rejects_bad_ones():
    model = genvid.create("row-lstm-mnist", channels=3, likelihood="categorical")
    assert model.config.channels == 3 and model.config.layer == "row"
    with pytest.raises(ValueError, match="layer must be 'row' or 'diagonal'"):
        genvid.create("row-lstm-mnist", layer="column")
    with pytest.raises(ValueError, match="hidden_channels must be >= 1"):
        genvid.create("diagonal-bilstm-mnist", hidden_channels=0)
    with pytest.raises(ValueError, match="condition must be None"):
        genvid.create("row-lstm-mnist").nll(
            torch.zeros(1, 1, 4, 4, dtype=torch.uint8), torch.zeros(1, 2, 4, 4)
        )
