"""Mask overlays a user can look at: a PNG strip and an animated GIF per sequence.

Each object id is tinted with its DAVIS palette colour (object 1 red, 2 green, ...) at ``alpha``
opacity over the frame; void (255) is left untinted. ``mask_strip`` lays frames side by side (every
``every``-th frame), optionally with the ground truth as a second row; ``write_gif`` writes every
frame as one GIF frame (PIL).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from selfsup.data.davis import VOID, davis_palette, load_sequence, read_mask


def overlay(frame: np.ndarray, ids: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 ``[H, W, 3]`` frame with object ids uint8 ``[H, W]`` tinted at ``alpha``; returns ``[H, W, 3]``."""
    frame, ids = np.asarray(frame), np.asarray(ids)
    if frame.ndim != 3 or frame.shape[2] != 3 or ids.shape != frame.shape[:2]:
        raise ValueError(
            f"frame must be [H, W, 3] and ids [H, W] of the same size, got {frame.shape}, {ids.shape}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colours = np.array(davis_palette(), dtype=np.float32).reshape(256, 3)[ids]
    tint = ((ids > 0) & (ids != VOID))[..., None] * alpha
    return (frame * (1 - tint) + colours * tint).round().clip(0, 255).astype(np.uint8)


def mask_strip(
    frames: list[np.ndarray], masks: list[np.ndarray], every: int = 1, gt: list[np.ndarray] | None = None
) -> np.ndarray:
    """Overlays of frames 0, every, 2*every, ... side by side; with ``gt`` a second row shows it."""
    if len(frames) != len(masks) or not frames or (gt is not None and len(gt) != len(frames)):
        raise ValueError(f"need as many masks ({len(masks)}) as frames ({len(frames)}), at least one")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    picks = range(0, len(frames), every)
    rows = [np.concatenate([overlay(frames[i], masks[i]) for i in picks], axis=1)]
    if gt is not None:
        rows.append(np.concatenate([overlay(frames[i], gt[i]) for i in picks], axis=1))
    return np.concatenate(rows, axis=0)


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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    strip_path = out_dir / f"{name}.png"
    Image.fromarray(mask_strip(frames, masks, every=every, gt=shown_gt)).save(strip_path)
    return strip_path, write_gif(out_dir / f"{name}.gif", frames, masks)
