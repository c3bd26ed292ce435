"""N models run as one grouped network compute what each model computes: outputs, gradients and
BatchNorm statistics, for every written-out architecture."""

import copy

import pytest
import torch
from torch.func import stack_module_state

from disentkit.errors import DisentkitError
from disentkit.models.grouped import GROUPED_ARCHS, grouped_decode, grouped_encode
from disentkit.models.vae import VAE

# Grouped kernels sum in another order than a model's own: equal to float32 rounding.
RTOL, ATOL = 1e-4, 1e-5


@pytest.mark.parametrize("arch", GROUPED_ARCHS)
def test_grouped_network_is_each_models_network(arch):
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(VAE(arch, 1, 6).train())
    params, buffers = stack_module_state([copy.deepcopy(m) for m in models])
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 8, 1, 64, 64, generator=gen) > 0.5).float()
    z = torch.randn(3, 8, 6, generator=gen)
    mu, logvar = grouped_encode(arch, params, buffers, x)
    logits = grouped_decode(arch, params, z, 1)
    (mu.square().sum() + logvar.sum() + logits.sigmoid().sum()).backward()
    for i, model in enumerate(models):
        own_mu, own_logvar = model.encode(x[i])
        own_logits = model.decode(z[i])
        (own_mu.square().sum() + own_logvar.sum() + own_logits.sigmoid().sum()).backward()
        for got, want in ((mu[i], own_mu), (logvar[i], own_logvar), (logits[i], own_logits)):
            torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL)
        # Gradients to float32 rounding of the largest one: BatchNorm sums thousands of terms, and a
        # conv bias right before it has an exact gradient of 0 (rounding noise both ways).
        scale = max(param.grad.abs().max().item() for param in model.parameters())
        for name, param in model.named_parameters():
            grad = params[name].grad[i]
            torch.testing.assert_close(grad, param.grad, rtol=RTOL, atol=1e-5 * scale, msg=name)
        for name, buffer in model.named_buffers():  # BatchNorm's running statistics and count
            torch.testing.assert_close(buffers[name][i], buffer, rtol=RTOL, atol=ATOL, msg=name)
    # The models differ: the comparison is not vacuous.
    assert not torch.allclose(mu[0], mu[1], rtol=RTOL, atol=ATOL)


def test_an_architecture_not_written_out_is_refused():
    with pytest.raises(DisentkitError, match="no grouped network for 'mlp'"):
        grouped_encode("mlp", {}, {}, torch.zeros(1, 1, 1, 64, 64))
