"""The figure of ``selfsup eval attention-masks``: attention maps and 60 %-mass masks against objects.

One row per (image, model): the image with the ground-truth object outline | each head's class-token
attention map (``inferno``, nearest-upsampled so each patch is one block, as DINO's figures) with the
object outline and that head's 60 %-mass mask outline, titled with the head's Jaccard | the best
head's 60 % mask painted over the image with the object outline. A legend under the grid names the
lines. Drawn with matplotlib's object API (no ``pyplot`` state), written by ``save_figure``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from selfsup.viz.attention import upsample
from selfsup.viz.attention_png import mask_overlay
from selfsup.viz.figure import save_figure

__all__ = ["MaskRow", "save_attention_masks_figure"]

OBJECT_COLOR = "cyan"  # stays visible on the inferno heat map and on most photos
MASK_COLOR = "lime"


@dataclass
class MaskRow:
    """One model on one image.

    label:    row name (model and image).
    image:    float ``[C, H, W]`` in [0, 1], as the model saw it.
    maps:     float ``[heads, gh, gw]`` attention per head.
    masks:    bool ``[heads, gh, gw]`` 60 %-mass masks.
    objects:  bool ``[H, W]`` ground-truth object pixels.
    jaccard:  float ``[heads]`` each head's Jaccard on this image.
    """

    label: str
    image: Tensor
    maps: Tensor
    masks: Tensor
    objects: Tensor
    jaccard: Tensor


def _rgb(image: Tensor) -> Tensor:
    img = image.detach().float().cpu().clamp(0, 1)
    return (img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3]).permute(1, 2, 0)


def _outline(ax, mask: Tensor, color: str, style: str = "solid") -> None:
    if bool(mask.any()) and not bool(mask.all()):
        ax.contour(mask.float().numpy(), levels=[0.5], colors=[color], linewidths=1.0, linestyles=style)


def save_attention_masks_figure(
    rows: Sequence[MaskRow], path: str | Path, title: str = "", mass: float = 0.6, panel_inches: float = 1.5
) -> Path:
    """Write the figure to ``path`` (PNG); returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not rows:
        raise ValueError("save_attention_masks_figure needs at least one row")
    heads = max(int(r.maps.shape[0]) for r in rows)
    ncols = heads + 2
    width = panel_inches * ncols
    chars = int(width * 14)  # ~14 characters per inch at the 7-8 pt fonts used here
    title = "\n".join(textwrap.fill(part, chars) for part in title.split("\n")) if title else ""
    legend_rows = 1 if ncols >= 6 else 3  # three entries side by side need ~9 inches
    legend_height = 0.12 + 0.12 * legend_rows
    fig = Figure(figsize=(width, panel_inches * (len(rows) + legend_height) + 0.15 * (title.count("\n") + 1)))
    FigureCanvasAgg(fig)
    # A last, short row holds the legend, so tight_layout keeps it clear of the panels.
    grid = fig.add_gridspec(len(rows) + 1, ncols, height_ratios=[1.0] * len(rows) + [legend_height])
    axes = [[fig.add_subplot(grid[i, j]) for j in range(ncols)] for i in range(len(rows))]
    for i, row in enumerate(rows):
        rgb = _rgb(row.image)
        size = tuple(rgb.shape[:2])
        objects = row.objects.cpu()
        heat = upsample(row.maps.float().unsqueeze(0).cpu(), size)[0]
        pixel_masks = upsample(row.masks.float().unsqueeze(0).cpu(), size)[0] > 0.5
        axes[i][0].imshow(rgb.numpy(), interpolation="nearest")
        _outline(axes[i][0], objects, OBJECT_COLOR)
        axes[i][0].set_title("image + object", fontsize=7)
        label = "\n".join(textwrap.fill(part, 24) for part in row.label.split("\n"))
        axes[i][0].set_ylabel(label, fontsize=7)
        for h in range(row.maps.shape[0]):
            ax = axes[i][1 + h]
            ax.imshow(heat[h].numpy(), cmap="inferno", interpolation="nearest")
            _outline(ax, objects, OBJECT_COLOR)
            _outline(ax, pixel_masks[h], MASK_COLOR, "dashed")
            ax.set_title(f"head {h + 1}: J {100 * float(row.jaccard[h]):.0f}", fontsize=7)
        for h in range(1 + row.maps.shape[0], ncols - 1):
            axes[i][h].set_visible(False)  # a model with fewer heads than another
        best = int(torch.as_tensor(row.jaccard).argmax())
        last = axes[i][ncols - 1]
        last.imshow(mask_overlay(row.image, row.masks[best : best + 1]).numpy(), interpolation="nearest")
        _outline(last, objects, OBJECT_COLOR)
        last.set_title(f"{mass:.0%} mask, head {best + 1}", fontsize=7)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    handles = [
        Line2D([], [], color=OBJECT_COLOR, lw=1.5, label="object outline (ground truth)"),
        Line2D([], [], color=MASK_COLOR, lw=1.5, ls="--", label=f"head's {mass:.0%}-mass mask"),
        Patch(color=(0.12, 0.47, 0.71), alpha=0.65, label=f"{mass:.0%}-mass mask of the best head (tinted)"),
    ]
    legend_ax = fig.add_subplot(grid[len(rows), :])
    legend_ax.axis("off")
    legend_ax.legend(
        handles=handles, loc="center", ncol=3 if legend_rows == 1 else 1, fontsize=7, frameon=False
    )
    return save_figure(fig, path, title)
