"""Architecture shapes for 1 and 3 channels, the 128-px resize, the registry and channel checks."""

import pytest
import torch

from disentkit.errors import DisentkitError
from disentkit.models.architectures import check_observation_shape, get_architecture
from disentkit.models.objectives import get_objective
from disentkit.models.vae import VAE, vae_loss


@pytest.mark.parametrize("arch", ["conv64", "conv64-bn"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(arch, channels):
    model = VAE(arch, channels, latent_dim=7)
    x = torch.rand(4, channels, 64, 64)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (4, 7)
    assert model.decode(mu).shape == (4, channels, 64, 64)


def test_conv64_layer_spec():
    enc = get_architecture("conv64").encoder(1, 10)
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (32, (4, 4), (2, 2)),
        (32, (4, 4), (2, 2)),
        (64, (2, 2), (2, 2)),
        (64, (2, 2), (2, 2)),
    ]


def test_bn_decoder_logits_match_paper_output():
    model = VAE("conv64-bn", 3, 10)
    z = torch.randn(2, 10)
    h = model.decoder.net(z)
    torch.testing.assert_close(torch.sigmoid(model.decode(z)), (torch.tanh(h) + 1) / 2)


def test_128px_inputs_are_resized_and_grey_feeds_rgb():
    model = VAE("conv64", 3, 10)
    mu, _ = model.encode(torch.rand(2, 1, 128, 128))
    assert mu.shape == (2, 10)
    out = vae_loss(model, get_objective("beta-vae"), {"x": torch.rand(2, 1, 128, 128)}, 1.0)
    assert torch.isfinite(out.loss)


def test_bad_shapes_and_names_are_clear_errors():
    with pytest.raises(DisentkitError, match="conv64-bn"):
        get_architecture("resnet")
    with pytest.raises(DisentkitError, match="channel"):
        check_observation_shape((64, 64, 3), 1)
    with pytest.raises(DisentkitError, match="multiple of 64"):
        check_observation_shape((100, 100, 1), 1)
    check_observation_shape((128, 128, 3), 3)
    with pytest.raises(DisentkitError):
        VAE("conv64", channels=2)
