import pytest
import torch
from torch import nn

from genvid.nn.dcgan import DCGANDecoder, DCGANEncoder, norm_layer
from genvid.nn.vgg64 import VGGDecoder, VGGEncoder

BACKBONES = {
    "dcgan": (DCGANEncoder, DCGANDecoder, (32, 16, 8, 4)),
    "vgg": (VGGEncoder, VGGDecoder, (64, 32, 16, 8)),
}


@pytest.mark.parametrize("backbone", ["dcgan", "vgg"])
@pytest.mark.parametrize("norm,channels", [("batch", 1), ("layer", 3), ("none", 1)])
def test_encoder_and_decoder_shapes_and_ranges(backbone, norm, channels):
    encoder_class, decoder_class, sizes = BACKBONES[backbone]
    torch.manual_seed(0)
    encoder = encoder_class(channels, 6, hidden_channels=2, norm=norm)
    decoder = decoder_class(6, channels, hidden_channels=2, norm=norm)
    h, skips = encoder(torch.rand(3, channels, 64, 64))
    assert h.shape == (3, 6) and h.abs().max() < 1  # tanh
    assert [s.shape for s in skips] == [(3, 2 * 2**k, n, n) for k, n in enumerate(sizes)]
    frames = decoder(h, skips)
    assert frames.shape == (3, channels, 64, 64)
    assert frames.min() >= 0 and frames.max() <= 1  # sigmoid


@pytest.mark.parametrize("backbone", ["dcgan", "vgg"])
def test_decoder_reads_every_skip(backbone):
    encoder_class, decoder_class, _ = BACKBONES[backbone]
    torch.manual_seed(0)
    encoder = encoder_class(1, 4, hidden_channels=2).double().eval()
    decoder = decoder_class(4, 1, hidden_channels=2).double().eval()
    h, skips = encoder(torch.rand(2, 1, 64, 64, dtype=torch.float64))
    base = decoder(h, skips)
    for k in range(4):
        changed = [s + 1 if n == k else s for n, s in enumerate(skips)]
        # Bit-identical output means the skip is ignored (its effect through DCGAN's small
        # initial weights can be tiny, but any effect changes some bit in float64).
        assert not torch.equal(decoder(h, changed), base), f"skip {k} is ignored"


@pytest.mark.parametrize("backbone", ["dcgan", "vgg"])
def test_initialisation_is_dcgans(backbone):
    """Convolutions N(0, 0.02) with zero biases, norm scales N(1, 0.02): the paper's sizes."""
    encoder_class, decoder_class, _ = BACKBONES[backbone]
    torch.manual_seed(0)
    for net in (encoder_class(3, 128), decoder_class(128, 3)):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        weights = torch.cat([m.weight.flatten() for m in convs])
        assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 0.02) < 1e-3
        assert all((m.bias == 0).all() for m in convs)
        norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        scales = torch.cat([m.weight.flatten() for m in norms])
        assert abs(scales.mean() - 1) < 3e-3 and abs(scales.std() - 0.02) < 3e-3


def test_layer_norm_normalises_each_example_over_maps_and_pixels():
    layer = norm_layer("layer", 4).double()
    y = layer(torch.randn(3, 4, 5, 5, dtype=torch.float64) * 7 + 2)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(
        y.var(dim=(1, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64), rtol=1e-4, atol=0
    )


def test_unknown_norm_raises():
    with pytest.raises(ValueError, match="instance"):
        DCGANEncoder(1, 8, norm="instance")
