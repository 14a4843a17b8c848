"""Colorization grids: grayscale input, predicted color, truth (Zhang et al. 2016, Fig. 1 style).

``colorize_images(method, images)`` runs a ``colorization`` method on RGB uint8 images: the L
channel goes in, the predicted ab (annealed mean, T = 0.38, for the classification loss) is
upsampled bilinearly to the input size and recombined with the true L. ``render_colorize(method,
images, out_path)`` writes the PNG grid (a run's method: ``selfsup.runs.load_run(..., need_method=True)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.views import resize, to_float
from selfsup.views.lab import lab_to_rgb
from selfsup.viz.inpaint import column_grid
from selfsup.viz.reconstruct import save_grid

if TYPE_CHECKING:
    from selfsup.methods.colorization import Colorization

__all__ = ["colorize_images", "render_colorize"]


@torch.no_grad()
def colorize_images(method: Colorization, images: Tensor) -> dict[str, Tensor | float]:
    """``{"gray", "color", "truth"}`` float RGB ``[B, 3, S, S]`` in [0, 1], plus ``"ab_rmse"`` of the
    prediction and ``"gray_rmse"`` of ab = 0 (ab units, full resolution)."""
    if (
        not isinstance(images, Tensor)
        or images.dtype != torch.uint8
        or images.ndim != 4
        or images.shape[1] != 3
    ):
        raise ValueError("images must be RGB uint8 [B, 3, H, W]; colorization needs color images")
    device = next(method.parameters()).device
    rgb = resize(to_float(images.to(device)), method.image_size)
    was_training = method.training
    method.eval()
    try:
        lab, out, _ = method.predict(rgb)
    finally:
        method.train(was_training)
    ab = F.interpolate(method.decode_ab(out), size=lab.shape[-2:], mode="bilinear", align_corners=False)
    lightness = lab[:, :1]
    gray = lab_to_rgb(torch.cat((lightness, torch.zeros_like(ab)), dim=1))
    color = lab_to_rgb(torch.cat((lightness, ab), dim=1))
    truth_ab = lab[:, 1:]
    return {
        "gray": gray,
        "color": color,
        "truth": rgb,
        "ab_rmse": float((ab - truth_ab).pow(2).mean().sqrt()),
        "gray_rmse": float(truth_ab.pow(2).mean().sqrt()),
    }


def render_colorize(method: Colorization, images: Tensor, out_path: str | Path, scale: int = 4) -> Path:
    """Write a PNG grid (rows: images; columns: grayscale / predicted color / truth)."""
    out = colorize_images(method, images)
    return save_grid(column_grid([out["gray"], out["color"], out["truth"]]), out_path, scale=scale)  # type: ignore[list-item]
