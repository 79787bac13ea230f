"""Video Pixel Network presets (Kalchbrenner et al. 2017, arXiv 1610.00527): the full model,
its baseline, and the smaller sizes of the TensorFlow reimplementation (PAPERS.md 1.7)."""

from __future__ import annotations

from genvid.models.vpn import VideoPixelNetwork, VPNConfig
from genvid.presets.base import Preset
from genvid.protocols import Protocol, VideoNLL

VPN_PAPER = {"VPN": 87.6, "VPN baseline": 110.1, "lower bound": 86.3}  # nats/frame, table 1
VPN_RECIPE = (
    "genvid's defaults: the VPN paper's recipe could not be confirmed (recalled: RMSProp, "
    "lr 3e-4, batch 64)"
)
TINY = dict(hidden_channels=4, encoder_blocks=1, decoder_blocks=1, lstm_channels=4)


def moving_mnist_nll(paper: dict[str, float]):
    """Frames 11-20 given 1-10; the entropy bound applies to the soft-Bernoulli likelihood."""

    def protocol(config: VPNConfig) -> Protocol:
        soft = config.likelihood == "soft_bernoulli"
        return VideoNLL(entropy_bound=soft, discrete=not soft, paper=paper)

    return protocol


PRESETS = (
    Preset(
        "vpn-full",
        VideoPixelNetwork,
        VPNConfig(hidden_channels=128, encoder_blocks=8, decoder_blocks=12, lstm_channels=256),
        "moving-mnist",
        "Video Pixel Network, full (c=128, 8 dilated encoder RMBs, 12 decoder RMBs, "
        "ConvLSTM 256; paper: 87.6 nats/frame)",
        moving_mnist_nll(VPN_PAPER),
        recipe=VPN_RECIPE,
        tiny=TINY,
    ),
    Preset(
        "vpn-mini",
        VideoPixelNetwork,
        VPNConfig(hidden_channels=32, encoder_blocks=4, decoder_blocks=6, lstm_channels=64),
        "moving-mnist",
        "Video Pixel Network, mini (c=32, 4 dilated encoder RMBs, 6 decoder RMBs, LSTM 64)",
        moving_mnist_nll(VPN_PAPER),
        recipe=VPN_RECIPE,
        tiny=TINY,
    ),
    Preset(
        "vpn-micro",
        VideoPixelNetwork,
        VPNConfig(hidden_channels=32, encoder_blocks=2, decoder_blocks=3, lstm_channels=64),
        "moving-mnist",
        "Video Pixel Network, micro (c=32, 2 dilated encoder RMBs, 3 decoder RMBs, LSTM 64)",
        moving_mnist_nll(VPN_PAPER),
        recipe=VPN_RECIPE,
        tiny=TINY,
    ),
    Preset(
        "vpn-baseline",
        VideoPixelNetwork,
        VPNConfig(
            hidden_channels=128,
            encoder_blocks=8,
            decoder_blocks=12,
            lstm_channels=256,
            baseline=True,
        ),
        "moving-mnist",
        "VPN baseline: vpn-full's encoder and ConvLSTM, unmasked decoder blind to the "
        "current frame (paper: 110.1 nats/frame)",
        moving_mnist_nll(VPN_PAPER),
        recipe=VPN_RECIPE,
        tiny=TINY,
    ),
)
