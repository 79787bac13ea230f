"""Evaluation protocols: each preset names one, and each reports what its data and model allow."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import genvid
from genvid.data import regenerate_test_set
from genvid.metrics import psnr, ssim
from genvid.models.base import LikelihoodModel
from genvid.presets import protocol
from genvid.protocols import FramePrediction, ImageNLL, VideoFVD, VideoNLL

# Every preset and the kind of evaluation its runs get. SRVP's Stochastic Moving MNIST presets
# (`svg-lp-srvp`, `svg-fp-srvp`, `svg-det-srvp`, their `-small` sizes, any later `svg-*-srvp`)
# are matched by rule instead: an SVG on a frame-prediction data set is judged by frame
# prediction.
PROTOCOLS = {
    **dict.fromkeys(
        [
            "pixelcnn-mnist",
            "pixelcnn-mnist-wide",
            "pixelcnn-cifar10",
            "row-lstm-mnist",
            "diagonal-bilstm-mnist",
            "row-lstm-cifar10",
            "diagonal-bilstm-cifar10",
            "multiscale-pixelrnn-mnist",
            "multiscale-row-lstm-imagenet64",
        ],
        ImageNLL,
    ),
    **dict.fromkeys(["vpn-micro", "vpn-mini", "vpn-full", "vpn-baseline"], VideoNLL),
    **dict.fromkeys(
        [f"svg-{v}-{d}" for v in ("lp", "fp", "det") for d in ("smmnist", "vgg64")],
        FramePrediction,
    ),
    **dict.fromkeys(
        [
            "videogan-mmnist",
            "videogan-mmnist-small",
            "videogan-mmnist-seed",
            "videogan-mmnist-ns",
            "videogan-mmnist-minimax",
            "videogan-pacman",
        ],
        VideoFVD,
    ),
}
SRVP_PRESET = re.compile(r"svg-[a-z]+-srvp(-small)?")
# What a sweep optimises under each protocol: likelihoods and FVD down, SSIM up.
OBJECTIVES = {
    ImageNLL: ("nll_nats", "minimize"),
    VideoNLL: ("nll_nats_per_frame", "minimize"),
    FramePrediction: ("ssim", "maximize"),
    VideoFVD: ("fvd", "minimize"),
}


def test_every_preset_names_its_protocol():
    srvp = {name: FramePrediction for name in genvid.presets() if SRVP_PRESET.fullmatch(name)}
    expected = {**PROTOCOLS, **srvp}
    assert set(genvid.presets()) == set(expected)
    for name, kind in expected.items():
        judge = protocol(name)
        assert type(judge) is kind, name
        assert judge.objective == OBJECTIVES[kind], name
        if kind is FramePrediction:  # one prediction for a deterministic SVG, best of N else
            assert judge.stochastic == ("-det-" not in name), name


def test_the_vpn_protocol_follows_the_likelihood_of_the_config():
    soft = protocol("vpn-micro")
    categorical = protocol("vpn-micro", likelihood="categorical")
    assert soft.entropy_bound and not soft.discrete  # a cross-entropy on grey levels: no bits
    assert categorical.discrete and not categorical.entropy_bound


class IndependentBernoulli(LikelihoodModel):
    """Pixel (i, j) is 1 with probability `p[i, j]`, independently: log p(x) in closed form."""

    def __init__(self, p: torch.Tensor):
        super().__init__()
        self.logit = nn.Parameter(torch.logit(p))
        self.calls = []

    def nll(self, x, context=None):
        self.calls.append((len(x), self.training))
        target = x.float().expand(-1, 1, *self.logit.shape)
        logits = self.logit.expand_as(target)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def test_image_nll_is_the_mean_and_standard_error_of_the_closed_form():
    """7 images of 3x4 pixels in batches of 3 (the last one short): the report's mean, its
    standard error (sample standard deviation / sqrt(7)) and bits/dim are those of
    -sum log p(x) written out with math.log, each example counted once."""
    p = torch.linspace(0.1, 0.9, 12, dtype=torch.float64).view(3, 4)
    images = (torch.rand(7, 1, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.5).byte()
    images[0] = 1  # an unlikely first image: leaving it out moves the mean
    nats = [
        -sum(
            math.log(p[i, j].item() if images[n, 0, i, j] else 1 - p[i, j].item())
            for i in range(3)
            for j in range(4)
        )
        for n in range(7)
    ]
    mean = sum(nats) / 7
    stderr = math.sqrt(sum((v - mean) ** 2 for v in nats) / 6) / math.sqrt(7)
    model = IndependentBernoulli(p.float()).train()
    judge = protocol("pixelcnn-mnist")
    options = dict(batch_size=3, samples=None, device="cpu", seed=0)
    report = judge.evaluate(model, images, data="binarized-mnist", **options)
    assert model.calls == [(3, False), (3, False), (1, False)] and model.training
    assert report["count"] == 7 and report["dims"] == 12
    assert report["nll_nats"] == pytest.approx(mean, rel=1e-6)
    assert report["nll_nats_stderr"] == pytest.approx(stderr, rel=1e-5)
    assert report["bits_per_dim"] == pytest.approx(mean / (12 * math.log(2)), rel=1e-6)
    assert report["paper"] == {"nats_per_image": pytest.approx(81.3)}
    assert f"{mean:.2f} +- {stderr:.2f} nats/image" in judge.summary(report)[0]
    other = judge.evaluate(model, images, data="mnist-copy.npy", **options)
    assert "paper" not in other and other["nll_nats"] == report["nll_nats"]
    with pytest.raises(ValueError, match="--samples applies to sampled evaluations"):
        judge.evaluate(model, images, data="x", **{**options, "samples": 2})


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
