"""sRGB <-> CIE L*a*b* (D65 white, 2-degree observer), batched in torch, on any device.

The formulas are the standard ones (IEC 61966-2-1 sRGB transfer curve, the sRGB -> XYZ matrix
of the ITU-R BT.709 primaries, CIE 1976 L*a*b*) with the constants scikit-image uses, so
``rgb_to_lab`` agrees with ``skimage.color.rgb2lab`` and ``lab_to_rgb`` with ``lab2rgb``:

- sRGB -> linear: ``c / 12.92`` for ``c <= 0.04045`` else ``((c + 0.055) / 1.055) ** 2.4``;
- linear -> XYZ by ``XYZ_FROM_RGB``, divided by the D65 white (0.95047, 1.0, 1.08883);
- ``f(t) = t ** (1/3)`` for ``t > 0.008856`` else ``7.787 t + 16/116``;
  ``L = 116 f(Y) - 16``, ``a = 500 (f(X) - f(Y))``, ``b = 200 (f(Y) - f(Z))``.

Shapes: ``[B, 3, H, W]`` (or ``[3, H, W]``); RGB as floats in [0, 1]; Lab with L in [0, 100]
and a, b roughly in [-110, 110] for in-gamut colors. Colorization (Zhang et al. 2016) feeds the
network L and predicts ab; ``normalize_l`` / ``normalize_ab`` give the network-scale versions.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "AB_SCALE",
    "D65_WHITE",
    "L_CENTER",
    "L_SCALE",
    "XYZ_FROM_RGB",
    "lab_to_rgb",
    "normalize_ab",
    "normalize_l",
    "rgb_to_lab",
]

XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.95047, 1.0, 1.08883)  # CIE 1931 2-degree observer, as skimage's default
_EPS = 0.008856  # (6/29)**3, rounded as in the CIE publication and skimage
_KAPPA = 7.787  # (29/6)**2 / 3, rounded likewise
# Network scaling: L in [0, 100] -> [-1, 1]; ab / 110 puts the sRGB gamut in about [-1, 1].
L_CENTER, L_SCALE, AB_SCALE = 50.0, 50.0, 110.0


def _check_rgbish(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor [B, 3, H, W]; convert uint8 images with x / 255")
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(
            f"{name} must have shape [B, 3, H, W] or [3, H, W] (3 channels), got {tuple(x.shape)}; "
            "repeat a grayscale channel 3 times first"
        )


def _matrix(rows: tuple[tuple[float, ...], ...], x: Tensor) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64).to(device=x.device, dtype=x.dtype)


def _apply(matrix: Tensor, x: Tensor) -> Tensor:
    # x: [..., 3, H, W]; contract the channel axis with the 3x3 matrix.
    return torch.einsum("ij,...jhw->...ihw", matrix, x)


def _white(x: Tensor) -> Tensor:
    return torch.tensor(D65_WHITE, dtype=x.dtype, device=x.device).view(3, 1, 1)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] ``[B, 3, H, W]`` -> Lab ``[B, 3, H, W]`` (L in [0, 100]); differentiable.

    Values outside [0, 1] are clamped first (as an 8-bit image would be).
    """
    _check_rgbish(rgb, "rgb")
    c = rgb.clamp(0.0, 1.0)
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).pow(2.4))
    xyz = _apply(_matrix(XYZ_FROM_RGB, c), linear) / _white(c)
    f = torch.where(xyz > _EPS, xyz.clamp_min(_EPS).pow(1.0 / 3.0), _KAPPA * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Lab ``[B, 3, H, W]`` -> sRGB in [0, 1] ``[B, 3, H, W]``.

    Out-of-gamut results are clipped to [0, 1] (and a negative f(Z) to 0 first), as
    ``skimage.color.lab2rgb`` does.
    """
    _check_rgbish(lab, "lab")
    l_, a, b = lab.unbind(-3)
    fy = (l_ + 16.0) / 116.0
    # As skimage: a negative f(Z) (far out of gamut) is clipped to 0, and the cube / linear branch is
    # chosen on f itself (threshold 6/29 ~ 0.2068966).
    f = torch.stack((fy + a / 500.0, fy, (fy - b / 200.0).clamp_min(0.0)), dim=-3)
    xyz = torch.where(f > 0.2068966, f.pow(3), (f - 16.0 / 116.0) / _KAPPA) * _white(lab)
    rgb_from_xyz = torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, dtype=torch.float64))
    linear = _apply(rgb_from_xyz.to(device=lab.device, dtype=lab.dtype), xyz)
    srgb = torch.where(
        linear > 0.0031308, 1.055 * linear.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055, 12.92 * linear
    )
    return srgb.clamp(0.0, 1.0)


def normalize_l(l_channel: Tensor) -> Tensor:
    """L in [0, 100] -> [-1, 1] (the network's input scale)."""
    return (l_channel - L_CENTER) / L_SCALE


def normalize_ab(ab: Tensor) -> Tensor:
    """ab in about [-110, 110] -> about [-1, 1] (the regression target scale)."""
    return ab / AB_SCALE
