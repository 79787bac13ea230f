import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genvid.metrics import PSNR_CAP_DB, best_of_samples, mean_and_interval, psnr, ssim


def _blobs(rng: np.random.Generator, channels: int, size: int = 64) -> np.ndarray:
    """Smooth Gaussian blobs, some near the border, where a wrong border rule shows."""
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((channels, size, size))
    for _ in range(5):
        cy, cx = rng.uniform(-4, size + 4, size=2)
        width = rng.uniform(2.0, 10.0)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
        image += rng.uniform(0.3, 1.0, size=(channels, 1, 1)) * blob
    return np.clip(image, 0.0, 1.0)


def _frame_pairs(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of random, shifted, noisy and sparse frames, shaped `[2, 4, C, 64, 64]`."""
    rng = np.random.default_rng(channels)
    preds, targets = [], []
    for _ in range(2):
        noise = rng.uniform(size=(channels, 64, 64))
        blobs = _blobs(rng, channels)
        square = np.zeros((channels, 64, 64))
        square[:, 2:20, 40:62] = rng.uniform(0.5, 1.0, size=(channels, 1, 1))
        preds += [
            noise,
            np.roll(blobs, (1, 3), axis=(-2, -1)),
            np.clip(blobs + 0.1 * rng.standard_normal(blobs.shape), 0.0, 1.0),
            np.roll(square, (2, -1), axis=(-2, -1)),
        ]
        targets += [rng.uniform(size=(channels, 64, 64)), blobs, blobs, square]
    shape = (2, 4, channels, 64, 64)
    return np.stack(preds).reshape(shape), np.stack(targets).reshape(shape)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.float64, 1e-9)])
def test_ssim_and_psnr_equal_scikit_image_per_frame(channels, dtype, atol):
    preds, targets = _frame_pairs(channels)
    ssim_ref = np.empty(preds.shape[:2])
    psnr_ref = np.empty(preds.shape[:2])
    for idx in np.ndindex(*preds.shape[:2]):
        ssim_ref[idx] = structural_similarity(
            targets[idx],
            preds[idx],
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=0,
        )
        psnr_ref[idx] = peak_signal_noise_ratio(targets[idx], preds[idx], data_range=1.0)

    pred = torch.from_numpy(preds).to(dtype)
    target = torch.from_numpy(targets).to(dtype)
    got_ssim, got_psnr = ssim(pred, target), psnr(pred, target)

    assert got_ssim.shape == got_psnr.shape == (2, 4)
    assert got_ssim.dtype == got_psnr.dtype == dtype
    torch.testing.assert_close(got_ssim, torch.from_numpy(ssim_ref).to(dtype), rtol=0, atol=atol)
    torch.testing.assert_close(got_psnr, torch.from_numpy(psnr_ref).to(dtype), rtol=0, atol=atol)


def test_single_frame_gives_a_scalar():
    preds, targets = _frame_pairs(1)
    pred, target = torch.from_numpy(preds[0, 1]), torch.from_numpy(targets[0, 1])
    assert ssim(pred, target).shape == psnr(pred, target).shape == ()


def test_identical_frames_give_ssim_one_and_the_psnr_cap():
    frames = torch.from_numpy(_frame_pairs(3)[1]).float()  # (2, 4, 3, 64, 64)
    torch.testing.assert_close(ssim(frames, frames), torch.ones(2, 4), rtol=0, atol=1e-6)
    assert torch.equal(psnr(frames, frames), torch.full((2, 4), PSNR_CAP_DB))


def test_psnr_of_a_known_mse():
    target = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.8
    # Every pixel off by 0.1: MSE = 0.01, so PSNR = 10 log10(100) = 20 dB.
    torch.testing.assert_close(
        psnr(target + 0.1, target), torch.full((3,), 20.0), atol=1e-4, rtol=0
    )


def test_bad_frames_raise():
    frames = torch.rand(2, 1, 64, 64)
    with pytest.raises(ValueError, match="differ"):
        psnr(frames, frames[:1])
    with pytest.raises(ValueError, match="differ"):
        ssim(frames, frames.double())
    with pytest.raises(ValueError, match="smaller than 11x11"):
        ssim(frames[..., :10, :], frames[..., :10, :])


def _scores_where_mean_and_step_best_disagree() -> torch.Tensor:
    """Sample 1 has the best mean but is best at no single step; sample 0 has the top score."""
    first = torch.tensor([[0.95, 0.10, 0.10], [0.50, 0.50, 0.50], [0.10, 0.70, 0.60]])
    # Second sequence: the same samples in another order, so the best index differs.
    return torch.stack([first, first[[2, 0, 1]]], dim=1)  # (3 samples, 2 sequences, 3 steps)


def test_best_of_samples_ranks_by_the_mean_over_steps():
    scores = _scores_where_mean_and_step_best_disagree()
    best, index = best_of_samples(scores)
    assert index.tolist() == [1, 2]
    torch.testing.assert_close(best, torch.tensor([[0.5, 0.5, 0.5]] * 2))


def test_best_of_samples_picks_the_lowest_when_lower_is_better():
    scores = _scores_where_mean_and_step_best_disagree()
    best, index = best_of_samples(-scores, higher_is_better=False)
    assert index.tolist() == [1, 2]
    torch.testing.assert_close(best, -torch.tensor([[0.5, 0.5, 0.5]] * 2))
    best, index = best_of_samples(scores, higher_is_better=False)
    assert index.tolist() == [0, 1]  # means 0.383 < 0.467 < 0.5
    torch.testing.assert_close(best, torch.tensor([[0.95, 0.10, 0.10]] * 2))


def test_best_of_samples_equals_a_loop_over_sequences():
    scores = torch.rand(7, 5, 4, generator=torch.Generator().manual_seed(1))
    best, index = best_of_samples(scores)
    for b in range(5):
        means = [sum(scores[n, b].tolist()) / 4 for n in range(7)]
        chosen = max(range(7), key=means.__getitem__)
        assert index[b] == chosen
        assert torch.equal(best[b], scores[chosen, b])


def test_mean_and_interval_by_hand():
    values = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
    mean, half_width = mean_and_interval(values)
    # Deviations (-2, 0, 2) and (-4, 0, 4): sample variances 8 / 2 = 4 and 32 / 2 = 16.
    torch.testing.assert_close(mean, torch.tensor([3.0, 6.0]))
    torch.testing.assert_close(half_width, 1.96 * torch.tensor([2.0, 4.0]) / math.sqrt(3))


def test_mean_and_interval_needs_two_values():
    with pytest.raises(ValueError, match="at least 2"):
        mean_and_interval(torch.ones(1, 3))
