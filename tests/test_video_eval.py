import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from genvid.autoregressive.evaluate import bits_per_dim, evaluate_video_nll
from genvid.data import entropy_per_sequence, regenerate_test_set
from genvid.models.base import LikelihoodModel
from genvid.models.vpn import VideoPixelNetwork, VPNConfig
from genvid.viz import save_video_gif, video_frames


class CoinFlips(LikelihoodModel):
    """Every value a fair coin (logit 0) under the soft Bernoulli: ln 2 nats each, always."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))
        self.seen_context = []

    def nll(self, x, context=None):
        self.seen_context.append(None if context is None else context.shape[1])
        return torch.full(x.shape, math.log(2.0), dtype=torch.float64)


def test_video_nll_of_coin_flips_is_ln2_per_value_with_the_bound_beside_it():
    videos = regenerate_test_set(5, num_frames=6)[..., :16, :16]  # (5, 6, 1, 16, 16)
    model = CoinFlips()
    figures = evaluate_video_nll(
        model, videos, context=4, batch_size=2, progress=False, entropy_bound=True
    )
    per_frame = 16 * 16 * math.log(2.0)
    assert model.seen_context == [4, 4, 4]
    assert figures["count"] == 5 and figures["frames"] == 2 and figures["dims_per_frame"] == 256
    assert figures["nll_nats_per_frame"] == pytest.approx(per_frame, rel=1e-12)
    assert figures["bits_per_dim"] == pytest.approx(1.0, rel=1e-12)
    bound = entropy_per_sequence(videos, context=4)
    assert figures["lower_bound_nats_per_frame"] == pytest.approx(bound.mean(), rel=1e-12)
    assert figures["excess_nats_per_frame"] == pytest.approx(per_frame - bound.mean(), rel=1e-9)
    assert figures["excess_stderr"] == pytest.approx(bound.std(ddof=1) / math.sqrt(5), rel=1e-9)


def test_video_nll_equals_the_models_log_prob_per_frame():
    torch.manual_seed(0)
    config = VPNConfig(hidden_channels=4, encoder_blocks=1, decoder_blocks=1, lstm_channels=4)
    model = VideoPixelNetwork(config)
    videos = torch.randint(0, 256, (3, 5, 1, 6, 6), dtype=torch.uint8)
    figures = evaluate_video_nll(model, videos, context=2, batch_size=2, progress=False)
    with torch.no_grad():
        expected = -model.log_prob(videos[:, 2:], videos[:, :2]).double() / 3
    assert figures["nll_nats_per_frame"] == pytest.approx(expected.mean().item(), rel=1e-6)
    assert figures["bits_per_dim"] == pytest.approx(bits_per_dim(expected.mean().item(), 36))
    assert "lower_bound_nats_per_frame" not in figures
    with pytest.raises(ValueError, match="context must be in"):
        evaluate_video_nll(model, videos, context=5, progress=False)


def test_video_gif_shows_context_truth_and_samples_side_by_side(tmp_path):
    # Every frame differs from the one before: a GIF writer may merge identical frames.
    level = torch.arange(5, dtype=torch.uint8)[None, :, None, None, None] * 20  # (1, 5, 1, 1, 1)
    context = level[:, :3].expand(2, 3, 1, 4, 5)
    truth = (255 - level[:, 3:]).expand(2, 2, 1, 4, 5)
    samples = [(128 + k + level[:, 3:]).expand(2, 2, 1, 4, 5) for k in range(2)]
    frames = video_frames(context, truth, samples)  # padding 2: tiles of 8x9
    assert frames.shape == (5, 2 * 8, 3 * 9, 3) and frames.dtype == torch.uint8
    assert (frames[1, 2:6, 2:7] == 20).all()  # context frame 1, truth column
    assert (frames[1, 2:6, 20:25] == 20).all()  # context frame 1, second sample column
    assert (frames[3, 10:14, 11:16] == 128 + 60).all()  # video 2, first sample, first prediction
    assert (frames[4, 2:6, 2:7] == 255 - 80).all()  # the truth's second predicted frame
    assert frames[0, 0, 9].tolist() == [0, 160, 0]  # context border
    assert frames[3, 0, 0].tolist() == [255, 255, 255]  # ground-truth border
    assert frames[3, 0, 9].tolist() == [200, 0, 0]  # sample border
    path = save_video_gif(context, truth, samples, tmp_path / "out" / "continued.gif")
    read = np.stack(imageio.mimread(path))
    assert read.shape[:3] == (5, 16, 27)
    assert np.abs(read[..., :3].astype(int) - frames.numpy()).max() <= 8  # palette rounding


def test_video_frames_rejects_mismatched_videos():
    context = torch.zeros(1, 2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="one size"):
        video_frames(
            context,
            torch.zeros(1, 2, 1, 4, 4, dtype=torch.uint8),
            torch.zeros(1, 3, 1, 4, 4, dtype=torch.uint8),
        )
