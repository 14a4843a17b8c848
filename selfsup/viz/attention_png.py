"""Draw attention maps as PNGs: per image, one row per model: image | head 1..h | 60 % masks.

Each head's map (``selfsup.viz.attention``) is upsampled onto the image with nearest interpolation
(one block per patch, as in DINO's figures) and drawn with its own colour scale (``inferno``). The
last column is the image with each head's thresholded mask (the fewest patches holding 60 % of that
head's mass, DINO §4.2.1 / Fig. 3) painted in the head's colour; where masks of several heads
overlap, their colours are averaged. With ``--compare`` two rows (models) share one figure, so a
supervised and a self-supervised model can be read side by side.

Drawing uses matplotlib's object API (``Figure`` + Agg canvas), never ``pyplot``, so it changes no
global backend state and works without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from selfsup.viz.attention import DINO_MASS, upsample
from selfsup.viz.figure import save_figure

__all__ = ["ModelRow", "mask_overlay", "save_attention_png"]


@dataclass
class ModelRow:
    """One model's view of one image.

    label:  row title (e.g. "supervised" or the checkpoint's run name).
    image:  float ``[C, H, W]`` in [0, 1], the image as the model saw it (C = 1 or 3).
    maps:   float ``[heads, gh, gw]``, each summing to 1.
    mask:   bool ``[heads, gh, gw]`` from ``mass_mask``.
    kind:   ``"cls_attention"`` or ``"activation"`` (names the columns).
    """

    label: str
    image: Tensor
    maps: Tensor
    mask: Tensor
    kind: str = "cls_attention"


def _rgb(image: Tensor) -> Tensor:
    """``[C, H, W]`` in [0, 1] -> ``[H, W, 3]``."""
    img = image.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img[:3].permute(1, 2, 0)


def _head_colors(n: int) -> Tensor:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return torch.tensor([cmap(i % 10)[:3] for i in range(n)], dtype=torch.float32)


def mask_overlay(image: Tensor, mask: Tensor, strength: float = 0.65) -> Tensor:
    """``image [C, H, W]`` + ``mask [heads, gh, gw]`` -> ``[H, W, 3]`` with each head's mask tinted.

    Pixels covered by no mask are the image dimmed to ``1 - strength``.
    """
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    up = upsample(mask.float().unsqueeze(0).cpu(), (h, w))[0]  # [heads, H, W]
    colors = _head_colors(mask.shape[0])  # [heads, 3]
    count = up.sum(0)  # [H, W]
    tint = torch.einsum("khw,kc->hwc", up, colors) / count.clamp_min(1).unsqueeze(-1)
    covered = (count > 0).unsqueeze(-1)
    return torch.where(covered, (1 - strength) * rgb + strength * tint, (1 - strength) * rgb)


def save_attention_png(
    rows: Sequence[ModelRow], path: str | Path, title: str | None = None, panel_inches: float = 1.4
) -> Path:
    """Write one PNG with a row per model; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("save_attention_png needs at least one ModelRow")
    ncols = 2 + max(r.maps.shape[0] for r in rows)
    fig = Figure(figsize=(panel_inches * ncols, panel_inches * len(rows) + (0.35 if title else 0.1)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for i, row in enumerate(rows):
        rgb = _rgb(row.image)
        h, w = rgb.shape[:2]
        heat = upsample(row.maps.float().unsqueeze(0).cpu(), (h, w))[0]
        axes[i][0].imshow(rgb.numpy(), interpolation="nearest")
        axes[i][0].set_ylabel(row.label, fontsize=8)
        axes[i][0].set_title("image", fontsize=7)
        for j in range(row.maps.shape[0]):
            ax = axes[i][1 + j]
            ax.imshow(heat[j].numpy(), cmap="inferno", interpolation="nearest")
            ax.set_title(f"head {j + 1}" if row.kind == "cls_attention" else "activation", fontsize=7)
        last = axes[i][ncols - 1]
        last.imshow(mask_overlay(row.image, row.mask).numpy(), interpolation="nearest")
        kept = row.mask.float().flatten(1).mean(1).mean()
        last.set_title(f"{DINO_MASS:.0%} mass ({kept:.0%} patches)", fontsize=7)
        for j in range(1 + row.maps.shape[0], ncols - 1):
            axes[i][j].set_visible(False)  # a model with fewer heads than the other in --compare
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, path, title)
