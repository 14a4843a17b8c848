"""Mask overlays a user can look at: a PNG strip and an animated GIF per sequence.

Each object id is tinted with its DAVIS palette colour (object 1 red, 2 green, ...) at ``alpha``
opacity over the frame and outlined (white inside, black outside); void (255) is left untinted.
``save_mask_strip`` lays every ``every``-th frame side by side, one labelled row per mask set
(predictions over the ground truth), with a legend of the object colours; ``write_gif`` writes every
frame as one GIF frame (PIL).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from selfsup.data.davis import VOID, davis_palette, load_sequence, read_mask
from selfsup.viz.figure import save_figure

PALETTE = np.array(davis_palette(), dtype=np.float32).reshape(256, 3)  # RGB of each id, 0-255


def object_edges(ids: np.ndarray) -> np.ndarray:
    """bool ``[H, W]``: pixels with a 4-neighbour of another id (void counts as background)."""
    ids = np.where(np.asarray(ids) == VOID, 0, np.asarray(ids))
    edge = np.zeros(ids.shape, dtype=bool)
    vertical, horizontal = ids[1:] != ids[:-1], ids[:, 1:] != ids[:, :-1]
    edge[1:] |= vertical
    edge[:-1] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    return edge


def overlay(frame: np.ndarray, ids: np.ndarray, alpha: float = 0.5, outline: bool = True) -> np.ndarray:
    """uint8 ``[H, W, 3]`` frame with object ids uint8 ``[H, W]`` tinted at ``alpha``; returns ``[H, W, 3]``.

    ``outline``: each object's border is drawn white on its inner side and black on the outer side,
    so it stays visible on any object or background colour (a red object on a red-tinted frame too).
    """
    frame, ids = np.asarray(frame), np.asarray(ids)
    if frame.ndim != 3 or frame.shape[2] != 3 or ids.shape != frame.shape[:2]:
        raise ValueError(
            f"frame must be [H, W, 3] and ids [H, W] of the same size, got {frame.shape}, {ids.shape}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colours = PALETTE[ids]
    objects = (ids > 0) & (ids != VOID)
    out = (frame * (1 - objects[..., None] * alpha) + colours * objects[..., None] * alpha).round()
    out = out.clip(0, 255).astype(np.uint8)
    if outline:
        edge = object_edges(ids)
        out[edge & objects] = 255
        out[edge & ~objects] = 0
    return out


def save_mask_strip(
    path: str | Path,
    frames: list[np.ndarray],
    rows: list[tuple[str, list[np.ndarray]]],
    every: int = 1,
    title: str = "",
    panel_inches: float | None = None,
) -> Path:
    """PNG figure: one row per ``(label, masks)`` of ``rows``, frames 0, every, 2*every, ... as columns.

    Each panel is ``overlay(frame, mask)``; columns are titled with the frame index, rows with their
    label, and a legend names each object colour that appears. ``panel_inches`` (width) defaults to
    the frame's own width at 100 dpi, within 1.6-3.2 inches, so the 1-pixel outlines survive.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if not frames or not rows or any(len(masks) != len(frames) for _, masks in rows):
        raise ValueError(f"need at least one row, each with a mask for every one of the {len(frames)} frames")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    picks = list(range(0, len(frames), every))
    h, w = frames[0].shape[:2]
    panel_inches = panel_inches or min(max(w / 100, 1.6), 3.2)
    panel_h = panel_inches * h / w
    fig = Figure(figsize=(panel_inches * len(picks) + 0.4, panel_h * len(rows) + 0.9))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), len(picks), squeeze=False)
    for r, (label, masks) in enumerate(rows):
        for c, i in enumerate(picks):
            ax = axes[r][c]
            ax.imshow(overlay(frames[i], masks[i]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {i}" + (" (given)" if i == 0 else ""), fontsize=9)
        axes[r][0].set_ylabel(label, fontsize=10)
    present = sorted({int(k) for _, masks in rows for m in masks for k in np.unique(m) if 0 < k < VOID})
    handles = [Patch(facecolor=PALETTE[k] / 255.0, edgecolor="black", label=f"object {k}") for k in present]
    if handles:  # below the middle panel of the last row, where tight_layout keeps room for it
        axes[-1][len(picks) // 2].legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.04),
            ncol=len(handles),
            fontsize=9,
            frameon=False,
        )
    return save_figure(fig, path, title)


def write_gif(path: str | Path, frames: list[np.ndarray], masks: list[np.ndarray], fps: float = 8.0) -> Path:
    """Animated GIF (looping) of every frame's overlay at ``fps`` frames per second.

    Pillow stores identical consecutive frames once, with their durations added.
    """
    if len(frames) != len(masks) or not frames:
        raise ValueError(f"need as many masks ({len(masks)}) as frames ({len(frames)}), at least one")
    images = [Image.fromarray(overlay(f, m)) for f, m in zip(frames, masks, strict=True)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path


def render_sequence(
    davis_root: str | Path,
    name: str,
    out_dir: str | Path,
    predictions: str | Path | None = None,
    every: int = 4,
) -> tuple[Path, Path]:
    """``<out_dir>/<name>.png`` (strip: predictions over ground truth) and ``<name>.gif`` for one sequence.

    Without ``predictions`` the ground-truth annotations are drawn alone.
    """
    seq = load_sequence(davis_root, name)
    frames = [seq.read_frame(i) for i in range(len(seq.frames))]
    gt = [seq.read_annotation(i) for i in range(len(seq.annotations))]
    if predictions is not None:
        masks = [read_mask(Path(predictions) / name / f"{f.stem}.png") for f in seq.frames]
        shown_gt = gt if len(gt) == len(frames) else None
    else:
        if len(gt) != len(frames):
            raise ValueError(f"sequence {name!r} has annotations for {len(gt)} of {len(frames)} frames")
        masks, shown_gt = gt, None
    rows = [("prediction" if predictions is not None else "ground truth", masks)]
    if shown_gt is not None:
        rows.append(("ground truth", shown_gt))
    what = f"predictions ({predictions}) over the ground truth" if shown_gt is not None else "ground truth"
    out_dir = Path(out_dir)
    strip_path = save_mask_strip(out_dir / f"{name}.png", frames, rows, every, f"{name}: {what}")
    return strip_path, write_gif(out_dir / f"{name}.gif", frames, masks)
