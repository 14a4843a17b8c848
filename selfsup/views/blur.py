"""Batched Gaussian blur with a per-sample sigma: one grouped convolution for the whole batch.

Input and output are float batches ``[B, C, H, W]``. Semantics follow torchvision's
``gaussian_blur``: kernel ``exp(-t^2 / 2 sigma^2)`` (normalized) over ``t = -(k-1)/2 .. (k-1)/2``
in each direction, reflect padding. Defaults are SimCLR's (Chen et al. 2020, Appendix A).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.views.ops import (
    bernoulli,
    check_generator,
    check_images,
    check_probability,
    check_range,
    uniform,
)

__all__ = [
    "blur_with_sigmas",
    "convolve_per_sample",
    "default_blur_kernel_size",
    "gaussian_blur",
    "gaussian_kernels",
]


def default_blur_kernel_size(image_size: int) -> int:
    """SimCLR's blur kernel: 10% of the image side, made odd (224 -> 23, 96 -> 9, 32 -> 3); at least 3."""
    return max(3, int(0.1 * image_size)) | 1


def _check_kernel_size(kernel_size: int) -> None:
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")


def gaussian_kernels(sigma: Tensor, kernel_size: int, applied: Tensor | None = None) -> Tensor:
    """Normalized 1-D Gaussian kernels ``[B, k]`` for sigmas ``[B]`` (pixels).

    Where ``applied`` (bool ``[B]``) is False the kernel is a unit impulse, which returns the
    sample bit-exact.
    """
    _check_kernel_size(kernel_size)
    t = torch.arange(kernel_size, dtype=sigma.dtype, device=sigma.device) - kernel_size // 2
    kernel = torch.exp(-0.5 * (t / sigma[:, None]) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    if applied is None:
        return kernel
    impulse = torch.zeros_like(kernel)
    impulse[:, kernel_size // 2] = 1.0
    return torch.where(applied[:, None], kernel, impulse)


def convolve_per_sample(x: Tensor, kernel: Tensor) -> Tensor:
    """Convolve sample i of ``[B, C, H, W]`` with the separable kernel ``kernel[i] (x) kernel[i]``, reflect-padded.

    All ``B * C`` planes go through one depthwise conv by folding the batch into channels
    (``[1, B*C, H, W]``, ``groups = B*C``), so every sample carries its own kernel. Up to 5 taps one
    2-D conv is cheaper than two 1-D passes (measured: 3x3 costs as much as one 3x1 pass here).
    """
    b, c, height, width = x.shape
    if kernel.ndim != 2 or kernel.shape[0] != b or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must have shape [B, k] = [{b}, k] with k odd, got {tuple(kernel.shape)}")
    k = kernel.shape[1]
    half = k // 2
    if half >= min(height, width):
        raise ValueError(
            f"kernel_size {k} is too large for {height}x{width} images (reflect padding needs "
            f"kernel_size // 2 < {min(height, width)}); pass a smaller kernel_size"
        )
    kernel = kernel.to(x.dtype).repeat_interleave(c, dim=0)  # [B*C, k]
    planes = F.pad(x.reshape(1, b * c, height, width), (half, half, half, half), mode="reflect")
    if k <= 5:
        planes = F.conv2d(planes, (kernel[:, :, None] * kernel[:, None, :]).unsqueeze(1), groups=b * c)
    else:
        planes = F.conv2d(planes, kernel.view(b * c, 1, k, 1), groups=b * c)
        planes = F.conv2d(planes, kernel.view(b * c, 1, 1, k), groups=b * c)
    return planes.view(b, c, height, width)


def blur_with_sigmas(x: Tensor, sigma: Tensor, kernel_size: int, applied: Tensor | None = None) -> Tensor:
    """Gaussian-blur sample i of ``[B, C, H, W]`` with std ``sigma[i]`` pixels (``sigma`` float ``[B]``).

    ``applied`` (bool ``[B]``, optional) leaves the samples where it is False bit-exact.
    Returns a new ``[B, C, H, W]`` tensor.
    """
    check_images(x, "x")
    _check_kernel_size(kernel_size)
    b = x.shape[0]
    if sigma.shape != (b,):
        raise ValueError(f"sigma must have shape [B] = [{b}], got {tuple(sigma.shape)}")
    if applied is not None and applied.shape != (b,):
        raise ValueError(f"applied must have shape [B] = [{b}], got {tuple(applied.shape)}")
    sigma = sigma.to(device=x.device, dtype=torch.float32)
    applied = applied.to(x.device) if applied is not None else None
    return convolve_per_sample(x, gaussian_kernels(sigma, kernel_size, applied))


def gaussian_blur(
    x: Tensor,
    sigma: tuple[float, float] = (0.1, 2.0),
    p: float = 0.5,
    kernel_size: int | None = None,
    *,
    generator: torch.Generator,
) -> Tensor:
    """Blur sample i of ``[B, C, H, W]`` with sigma_i ~ U(sigma) with probability ``p``.

    Defaults are SimCLR's ImageNet ones (Chen et al. 2020, Appendix A): sigma in [0.1, 2.0],
    p = 0.5, kernel 10% of the image side (``default_blur_kernel_size`` of the shorter side).
    Draws B sigmas, then B coins.
    """
    check_images(x, "x")
    check_generator(generator, x)
    check_range(sigma, "sigma", low=0.0)
    check_probability(p, "p")
    if kernel_size is None:
        kernel_size = default_blur_kernel_size(min(x.shape[-2:]))
    _check_kernel_size(kernel_size)
    sigmas = uniform(x.shape[0], sigma[0], sigma[1], generator=generator, device=x.device)
    blurred = bernoulli(x.shape[0], p, generator=generator, device=x.device)
    return blur_with_sigmas(x, sigmas, kernel_size, blurred)
