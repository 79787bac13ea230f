"""The shared raster cache: every model's cached parameters equal its full forward pass at
every position (float64 to 1e-10, float32 to 1e-5), for binary and RGB data and kernel sizes
1, 3 and 7, and skipped pixels are computed before the next one is asked for."""

from __future__ import annotations

import pytest
import torch

import genvid
from genvid.autoregressive.sampling import RasterCache

SIZE = (5, 6)
RGB = dict(channels=3, likelihood="categorical")


def _random(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Every parameter (biases and initial states too) drawn large enough to matter."""
    torch.manual_seed(0)
    model = model.to(dtype).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    return model


def _images(model, n: int = 2) -> torch.Tensor:
    high = model.likelihood.max_value + 1
    shape = (n, model.config.channels, *SIZE)
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(1)).byte()


def _image_model(preset: str, **overrides):
    """(full parameters of x, the cached params_at) of a PixelCNN or PixelRNN."""
    model = genvid.create(preset, **overrides)
    return model, lambda m, x: (m.params(x), m.cached_params_at(len(x), SIZE))


def _conditional(dtype):
    model = genvid.create(
        "row-lstm-mnist", hidden_channels=3, num_layers=2, output_channels=4, condition_channels=2
    )
    condition = torch.randn(2, 2, *SIZE, generator=torch.Generator().manual_seed(2))

    def pair(m, x):
        c = condition.to(dtype)
        return m.params(x, c), m.cached_params_at(len(x), SIZE, c)

    return model, pair


def _vpn(**overrides):
    model = genvid.create(
        "vpn-micro",
        hidden_channels=3,
        encoder_blocks=1,
        decoder_blocks=2,
        lstm_channels=4,
        **overrides,
    )
    lstm_out = torch.randn(2, 4, *SIZE, generator=torch.Generator().manual_seed(2))

    def pair(m, x):
        out = lstm_out.to(m.condition.weight.dtype)
        return m.decode(out, x), m.cached_params_at(m.condition(out))

    return model, pair


PIXELCNN = dict(hidden_channels=3, num_layers=2, output_channels=4)
PIXELRNN = dict(hidden_channels=3, num_layers=2, output_channels=4)
CASES = {
    **{
        f"pixelcnn-k{k}-first{first}": lambda dtype, k=k, first=first: _image_model(
            "pixelcnn-mnist", **PIXELCNN, kernel_size=k, first_kernel_size=first
        )
        for k, first in ((1, 3), (3, 7), (7, 3))
    },
    "pixelcnn-rgb-k1-first1": lambda dtype: _image_model(  # margin 0
        "pixelcnn-mnist", **PIXELCNN, **RGB, kernel_size=1, first_kernel_size=1
    ),
    "pixelcnn-rgb-k3": lambda dtype: _image_model("pixelcnn-mnist", **PIXELCNN, **RGB),
    **{
        f"row-lstm-k{k}": lambda dtype, k=k: _image_model(
            "row-lstm-mnist", **PIXELRNN, kernel_size=k, first_kernel_size=3
        )
        for k in (1, 3, 7)
    },
    "row-lstm-rgb": lambda dtype: _image_model("row-lstm-mnist", **PIXELRNN, **RGB),
    "diagonal": lambda dtype: _image_model("diagonal-bilstm-mnist", **PIXELRNN),
    "diagonal-rgb-first1": lambda dtype: _image_model(
        "diagonal-bilstm-mnist", **PIXELRNN, **RGB, first_kernel_size=1
    ),
    "conditional-row-lstm": _conditional,
    **{
        f"vpn-k{k}-first{first}": lambda dtype, k=k, first=first: _vpn(
            kernel_size=k, first_kernel_size=first
        )
        for k, first in ((1, 3), (3, 7), (7, 3))
    },
    "vpn-rgb-k3-first1": lambda dtype: _vpn(**RGB, first_kernel_size=1),
}


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["f64", "f32"]
)
@pytest.mark.parametrize("case", CASES)
def test_cached_parameters_equal_the_full_pass_everywhere(case, dtype, tolerance):
    model, pair = CASES[case](dtype)
    model = _random(model, dtype)
    x = _images(model)
    with torch.no_grad():
        full, params_at = pair(model, x)
        for i in range(SIZE[0]):
            for j in range(SIZE[1]):
                for _ in range(model.config.channels):  # once per colour, as a sampler asks
                    cached = params_at(x, i, j)
                torch.testing.assert_close(cached, full[:, :, i, j], rtol=tolerance, atol=tolerance)


def test_skipped_pixels_and_rows_are_computed_before_the_next_pixel():
    """A sampler may skip pixels, whole rows even (known pixels): the cache computes them."""
    model = _random(genvid.create("row-lstm-mnist", **PIXELRNN), torch.float64)
    x = _images(model)
    with torch.no_grad():
        full = model.params(x)
        params_at = model.cached_params_at(len(x), SIZE)
        asked = [(2, 1), (2, 4), (3, 0), (4, 5)]  # rows 0 and 1 never asked for
        for i, j in asked:
            torch.testing.assert_close(params_at(x, i, j), full[:, :, i, j], rtol=0, atol=1e-10)
        with pytest.raises(ValueError, match="not raster order"):
            params_at(x, 1, 0)


def test_a_cache_buffer_has_the_padded_channels_last_layout():
    cache = RasterCache(2, (4, 5), 3, 2, lambda v: v.double(), like=torch.zeros(1))
    assert cache.data.shape == (2, 4 + 2, 5 + 4, 3)
    assert cache.buffer(7).shape == (2, 6, 9, 7) and not cache.buffer(7).any()


@pytest.mark.parametrize("name", ["pixelcnn-rgb", "vpn"])
def test_the_compiled_step_draws_what_the_eager_one_draws(name):
    """One compilation for every wavefront step (i and j are tensors; the steps with fewer
    pixels than the widest padded) and, for the VPN, every frame; new weights, a temperature
    and given pixels scattered within rows are drawn alike too. The eager steps draw what the
    naive sampler draws (tests/test_completion.py)."""
    torch._dynamo.reset()
    rows, cols = torch.meshgrid(torch.arange(SIZE[0]), torch.arange(SIZE[1]), indexing="ij")
    given = (rows + 2 * cols) % 3 == 0  # given pixels in every row, between drawn ones
    if name == "vpn":
        model = _random(_vpn()[0], torch.float32)
        context = torch.randint(0, 2, (1, 1, 1, *SIZE), dtype=torch.uint8)
        start = torch.randint(0, 2, (1, 1, *SIZE), dtype=torch.uint8)

        def draw(compiled, fast=True, **kwargs):
            generator = torch.Generator().manual_seed(5)
            return model.sample(
                context=context,
                steps=2,
                generator=generator,
                fast=fast,
                compiled=compiled,
                **kwargs,
            )
    else:
        model = _random(genvid.create("pixelcnn-mnist", **PIXELCNN, **RGB), torch.float32)
        start = torch.randint(0, 256, (2, 3, *SIZE), dtype=torch.uint8)

        def draw(compiled, fast=True, **kwargs):
            generator = torch.Generator().manual_seed(5)
            return model.sample(
                2, SIZE, generator=generator, fast=fast, compiled=compiled, **kwargs
            )

    with torch._dynamo.config.patch(error_on_recompile=True):
        assert torch.equal(draw(compiled=True), draw(compiled=False))
    with torch.no_grad():  # new weights: the compiled step must not read the old kernels
        for parameter in model.parameters():
            parameter.mul_(-1.5)
    assert torch.equal(draw(compiled=True), draw(compiled=False))
    completion = dict(temperature=0.7, start=start, given=given)
    completed = draw(compiled=True, **completion)
    assert torch.equal(completed, draw(compiled=False, **completion))
    first = completed[:, 0] if name == "vpn" else completed
    assert torch.equal(first[:, :, given], start[:, :, given])
    with pytest.raises(ValueError, match="cached sampler"):
        draw(compiled=True, fast=False)


@pytest.mark.parametrize("size", [(1, 7), (7, 2), (4, 9)])
@pytest.mark.parametrize(("first", "k"), [(7, 3), (1, 1)], ids=["skew4", "skew1"])
def test_the_wavefront_draws_what_the_naive_sampler_draws_for_any_frame_shape(size, first, k):
    """Steps of one pixel (one row, or frames narrower than the skew) up to the widest."""
    model = genvid.create(
        "pixelcnn-mnist", **PIXELCNN, **RGB, first_kernel_size=first, kernel_size=k
    )
    model = _random(model, torch.float64)
    draws = [
        model.sample(2, size, generator=torch.Generator().manual_seed(4), fast=fast)
        for fast in (True, False)
    ]
    assert torch.equal(*draws)
    assert len(draws[0].unique()) > 10  # categorical draws, not a constant
