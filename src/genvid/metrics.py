"""Frame metrics for video prediction: SSIM, PSNR, best-of-samples and confidence intervals;
and, from `genvid.frechet`, the Frechet Video Distance `fvd(real, fake)` of generated video.

Protocol of SVG (Denton & Fergus 2018, arXiv 1802.07687, Sect. 5) as used by the later
literature (SRVP, SLAMP): score every predicted frame against the ground truth, keep for each
test sequence the sample whose score averaged over the predicted steps is best (separately for
SSIM and for PSNR), then report the mean over sequences per step with a 95 % interval.
SSIM is Wang et al. (2004, IEEE TIP 13(4)), Gaussian-window form.

Deviations:
- SVG's `utils.eval_seq` uses skimage's default SSIM (uniform 7x7 window, sample covariance);
  we use the Gaussian 11x11, sigma 1.5 form of Wang et al., which SVG's second variant
  (`finn_eval_seq`) and scikit-image with `gaussian_weights=True` compute.
- SVG averages per-channel PSNRs; we take one MSE over all channels and pixels of a frame
  (scikit-image's `peak_signal_noise_ratio`). Both agree on grey frames.
- PSNR of identical frames is capped at `PSNR_CAP_DB` instead of +inf (see `psnr`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genvid.frechet import fvd

__all__ = ["best_of_samples", "fvd", "mean_and_interval", "psnr", "ssim"]

SSIM_SIGMA = 1.5
# scikit-image truncates the Gaussian at 3.5 sigma: radius 5, window 11.
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)
PSNR_CAP_DB = 100.0
Z_95 = 1.96


def _check_frames(pred: Tensor, target: Tensor, min_size: int = 1) -> None:
    if pred.shape != target.shape or pred.dtype != target.dtype:
        raise ValueError(
            f"pred {pred.dtype} {tuple(pred.shape)} and target {target.dtype} "
            f"{tuple(target.shape)} differ"
        )
    if pred.dim() < 3 or not pred.is_floating_point():
        raise ValueError(
            f"frames must be float [..., C, H, W], got {pred.dtype} {tuple(pred.shape)}"
        )
    if min(pred.shape[-2:]) < min_size:
        raise ValueError(f"frames {tuple(pred.shape[-2:])} are smaller than {min_size}x{min_size}")


def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """Structural similarity of each frame, as scikit-image computes it.

    Convention: data range 1; Gaussian window 11x11, sigma 1.5; population covariance;
    K1 = 0.01, K2 = 0.03; the SSIM map averaged over the valid region only (the 5-pixel border,
    where the window would leave the frame, is dropped); for C > 1 the mean over channels.
    Equals `skimage.metrics.structural_similarity(..., data_range=1.0, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, channel_axis=-3)`.

    Written here rather than taken from torchmetrics: its mean includes the border (filled by
    reflect padding), so its figure is not scikit-image's, and its full map comes from an
    unfolded 11x11 kernel (20 MB per 64x64 frame in float64; 10 ms a frame on a 2-core CPU).
    The window is separable: two 11-tap passes over the five local moments, in the inputs'
    dtype, on frames shifted by -0.5 so that float32 variances (E[x^2] - E[x]^2) keep their
    digits (1e-6 of scikit-image's float64 figure).

    Args:
        pred: predicted frames in [0, 1].
        target: ground-truth frames in [0, 1].

    Returns:
        SSIM per frame, in the inputs' dtype and device.

    Shape:
        pred, target: `[..., C, H, W]` with H, W >= 11; returns `[...]`.
    """
    _check_frames(pred, target, min_size=2 * SSIM_RADIUS + 1)
    *lead, c, h, w = pred.shape
    x = pred.reshape(-1, 1, h, w) - 0.5  # (N*C, 1, H, W)
    y = target.reshape(-1, 1, h, w) - 0.5
    moments = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N*C, 5, H, W)
    taps = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=pred.dtype, device=pred.device)
    window = torch.exp(-(taps**2) / (2 * SSIM_SIGMA**2))
    window = (window / window.sum()).repeat(5, 1)  # (5, 11): one filter per moment
    local = F.conv2d(moments, window.view(5, 1, 1, -1), groups=5)  # valid: (N*C, 5, H, W-10)
    local = F.conv2d(local, window.view(5, 1, -1, 1), groups=5)  # (N*C, 5, H-10, W-10)
    mean_x, mean_y, xx, yy, xy = local.unbind(1)
    var_x, var_y = xx - mean_x * mean_x, yy - mean_y * mean_y
    cov = xy - mean_x * mean_y
    mean_x, mean_y = mean_x + 0.5, mean_y + 0.5  # back to [0, 1]; variances do not move
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / (
        (mean_x * mean_x + mean_y * mean_y + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean(dim=(-2, -1)).reshape(*lead, c).mean(dim=-1)


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio of each frame in dB: 10 log10(1 / MSE), data range 1.

    The MSE is over all channels and pixels of a frame. Identical frames (MSE 0) score
    `PSNR_CAP_DB` = 100 dB rather than +inf, so that means over frames and sequences stay
    finite (scikit-image returns inf). For 8-bit frames of up to ~150,000 values (220x220 RGB)
    the cap only touches exact copies: a one-level error in one value has MSE >= 1e-10.

    Args:
        pred: predicted frames in [0, 1].
        target: ground-truth frames in [0, 1].

    Returns:
        PSNR per frame in dB, in the inputs' dtype and device.

    Shape:
        pred, target: `[..., C, H, W]`; returns `[...]`.
    """
    _check_frames(pred, target)
    mse = (pred - target).square().mean(dim=(-3, -2, -1))
    return (-10.0 * torch.log10(mse)).clamp(max=PSNR_CAP_DB)


def best_of_samples(scores: Tensor, *, higher_is_better: bool = True) -> tuple[Tensor, Tensor]:
    """Keep, per sequence, the sample whose score averaged over steps is best.

    SVG's protocol: of the samples drawn for a test sequence, report the one closest to the
    ground truth; run it once for SSIM and once for PSNR. Ties go to the lowest index.

    Args:
        scores: per-step score of every sample of every sequence.
        higher_is_better: True for SSIM and PSNR; False for e.g. MSE or LPIPS.

    Returns:
        `(best_scores, best_index)`: the chosen sample's per-step scores and its index.

    Shape:
        scores: `[N_samples, B, steps]`; returns `[B, steps]` and `[B]` (int64).
    """
    if scores.dim() != 3 or scores.shape[0] == 0:
        raise ValueError(f"scores must be [N_samples >= 1, B, steps], got {tuple(scores.shape)}")
    mean_over_steps = scores.mean(dim=2)  # (N, B)
    pick = torch.argmax if higher_is_better else torch.argmin
    index = pick(mean_over_steps, dim=0)  # (B,)
    best = scores[index, torch.arange(scores.shape[1], device=scores.device)]  # (B, steps)
    return best, index


def mean_and_interval(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean over the first dim and the half width of its 95 % confidence interval.

    Normal approximation: half width = 1.96 * s / sqrt(n), with s the sample standard
    deviation (n - 1 in the denominator), as the reported "mean +- interval" tables use.

    Args:
        values: one row per sequence, e.g. per-step scores of the best samples.

    Returns:
        `(mean, half_width)`.

    Shape:
        values: `[n, ...]` with n >= 2; returns two `[...]`.
    """
    if values.dim() == 0 or values.shape[0] < 2:
        raise ValueError(f"need at least 2 values along dim 0, got shape {tuple(values.shape)}")
    n = values.shape[0]
    return values.mean(dim=0), Z_95 * values.std(dim=0, correction=1) / math.sqrt(n)
