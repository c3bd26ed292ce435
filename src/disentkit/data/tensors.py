"""Small tensor helpers shared by the device rendering paths."""

from __future__ import annotations

import torch


def unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 1], bit-identical to numpy's ``images.astype(float32) / 255``.

    The divisor is a tensor on the images' device: CUDA turns division by a Python scalar into a
    multiplication by its reciprocal, which differs from true division in the last bit.
    """
    # torch.full fills on the device; torch.tensor(255.0, device=...) would be a blocking upload.
    return images.to(torch.float32).div_(torch.full((), 255.0, device=images.device))


def factors_on(dataset, factors, device: torch.device) -> torch.Tensor:
    """``dataset``'s validated factor classes as a long tensor on ``device``.

    Host factors are checked on the host and uploaded without waiting for the device: a blocking
    copy (or validating a device tensor, which copies it back) waits for every kernel queued
    before it, and stalled a CUDA training loop at every batch (a CUDA graph replay ran at 681
    steps/s on an H200, the loop at 373 while its data thread waited so).
    """
    f = torch.as_tensor(factors)
    checked = torch.from_numpy(dataset.validate_factors(f.detach().cpu().numpy()))
    # A pageable non-blocking upload is staged before the call returns: the host array may go.
    return checked.to(device, non_blocking=True)


class DeviceRendering:
    """Mixin for datasets with a tensor rendering path, ``render_device(factors, generator, device)``.

    ``render_torch`` uses it on accelerators; on the CPU the numpy kernels are several times faster
    than torch's indexing, so the CPU goes through ``render`` (same pixels; noise, where a dataset
    has it, then comes from a numpy generator seeded from ``generator``).
    """

    def render_torch(self, factors, generator=None, device=None) -> torch.Tensor:
        factors = torch.as_tensor(factors)
        device = torch.device(device) if device is not None else factors.device
        if device.type == "cpu":
            return super().render_torch(factors, generator, device)
        return self.render_device(factors, generator, device)
