"""Evaluation protocols: each preset names one, and each reports what its data and model allow."""

import math

import pytest
import torch
from torch import nn

import genvid
from genvid.data import regenerate_test_set
from genvid.metrics import psnr, ssim
from genvid.presets import protocol
from genvid.protocols import FramePrediction, ImageNLL, VideoFVD, VideoNLL


def test_every_preset_names_a_protocol():
    kinds = {name: type(protocol(name)) for name in genvid.presets()}
    assert kinds["pixelcnn-mnist"] is ImageNLL and kinds["vpn-micro"] is VideoNLL
    assert kinds["videogan-mmnist"] is VideoFVD
    assert all(kind in (ImageNLL, VideoNLL, FramePrediction, VideoFVD) for kind in kinds.values())


def test_the_vpn_protocol_follows_the_likelihood_of_the_config():
    soft = protocol("vpn-micro")
    categorical = protocol("vpn-micro", likelihood="categorical")
    assert soft.entropy_bound and not soft.discrete  # a cross-entropy on grey levels: no bits
    assert categorical.discrete and not categorical.entropy_bound


class Flat(nn.Module):
    """A video 'likelihood model' giving every value ln 2 nats (a fair coin)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def nll(self, x, context=None):
        return torch.full(x.shape, math.log(2.0))


def test_video_nll_reports_bits_and_paper_figures_only_where_they_apply():
    videos = regenerate_test_set(2)[..., :8, :8]  # (2, 20, 1, 8, 8)
    options = dict(batch_size=None, samples=None, device="cpu", seed=0)
    soft = protocol("vpn-micro").evaluate(Flat(), videos, data="moving-mnist", **options)
    assert "bits_per_dim" not in soft and "lower_bound_nats_per_frame" in soft
    assert soft["paper_nats_per_frame"]["VPN"] == 87.6
    assert "frames 11-20 given 1-10" in protocol("vpn-micro").summary(soft)[0]
    other = protocol("vpn-micro", likelihood="categorical").evaluate(
        Flat(), videos, data="my.npy", **options
    )
    assert other["bits_per_dim"] == pytest.approx(1.0) and "paper_nats_per_frame" not in other
    with pytest.raises(ValueError, match="has 12 frames; the protocol needs 20"):
        protocol("vpn-micro").evaluate(Flat(), videos[:, :12], data="short", **options)
    with pytest.raises(ValueError, match="--samples"):
        protocol("vpn-micro").evaluate(Flat(), videos, data="x", **{**options, "samples": 3})


class Jitter(nn.Module):
    """Predicts the true future (kept from the last call to `truth`) plus noise whose size is
    drawn per prediction, so that some samples are clearly better than others."""

    def __init__(self, truth: torch.Tensor):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))
        self.truth = truth  # (N, T, C, H, W) uint8, the whole test set
        self.drawn = []

    def predict(self, context, steps, *, generator=None):
        index = [self._index(c) for c in context]
        future = self.truth[index, context.shape[1] : context.shape[1] + steps].float()
        scale = torch.rand(len(context), 1, 1, 1, 1, generator=generator) * 120
        noise = torch.randn(future.shape, generator=generator) * scale
        out = (future + noise).clamp(0, 255).round().to(torch.uint8)
        self.drawn.append(out)
        return out

    def _index(self, context):
        for i, video in enumerate(self.truth):
            if torch.equal(video[: len(context)], context):
                return i
        raise AssertionError("unknown context")


def test_frame_prediction_keeps_the_best_sample_by_its_mean_over_frames():
    videos = regenerate_test_set(3, stochastic=True)  # (3, 25, 1, 64, 64)
    model = Jitter(videos)
    judge = FramePrediction(samples=4, paper={"SVG-LP": {"psnr": 14.5, "ssim": 0.709}})
    report = judge.evaluate(
        model, videos, data="moving-mnist-stochastic", batch_size=2, samples=None,
        device="cpu", seed=0,
    )  # fmt: skip
    drawn = torch.cat(model.drawn).unflatten(0, (3, 4)).float() / 255  # (B, n, K, C, H, W)
    truth = videos[:, 5:].unsqueeze(1).float() / 255
    for metric, fn in (("ssim", ssim), ("psnr", psnr)):
        scores = fn(drawn, truth.expand_as(drawn))  # (B, n, K)
        best = scores[torch.arange(3), scores.mean(dim=2).argmax(dim=1)]  # (B, K)
        assert report[f"{metric}_per_step"] == pytest.approx(best.mean(0).tolist(), rel=1e-5)
        assert report[metric] == pytest.approx(best.mean().item(), rel=1e-5)
        assert len(report[f"{metric}_per_step_ci95"]) == 20
    assert report["samples"] == 4 and report["count"] == 3 and "paper" in report
    assert "best of 4" in judge.summary(report)[0] and "SVG-LP" in judge.summary(report)[4]


def test_a_deterministic_protocol_makes_one_prediction_and_refuses_samples():
    videos = regenerate_test_set(2, stochastic=True)
    judge = FramePrediction(samples=100, stochastic=False)
    model = Jitter(videos)
    options = dict(data="x", batch_size=None, device="cpu", seed=0)
    report = judge.evaluate(model, videos, samples=None, **options)
    assert report["samples"] == 1 and len(torch.cat(model.drawn)) == 2
    assert "deterministic" in report["selection"] and "paper" not in report
    with pytest.raises(ValueError, match="deterministic model makes one prediction"):
        judge.evaluate(model, videos, samples=10, **options)
