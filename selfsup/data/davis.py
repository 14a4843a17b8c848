"""DAVIS 2017 folder format (Pont-Tuset et al. 2017): read sequences, read and write palette masks.

Layout under a root::

    JPEGImages/480p/<seq>/00000.jpg ...        RGB frames
    Annotations/480p/<seq>/00000.png ...       indexed-palette masks: 0 = background,
                                               1..K = objects, 255 = void (ignored in evaluation)
    ImageSets/2017/train.txt, val.txt          one sequence name per line

Masks are read as their palette *indices* (not colours) and written in palette mode with the
DAVIS palette, which is the PASCAL VOC colour map (object 1 red, 2 green, 3 yellow, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

VOID = 255
RESOLUTION = "480p"


def davis_palette() -> list[int]:
    """The 256-entry PASCAL VOC / DAVIS colour map as a flat ``[r0, g0, b0, r1, ...]`` list.

    Index i's colour spreads the bits of i over the three channels, most significant first
    (bit 0 -> red bit 7, bit 1 -> green bit 7, bit 2 -> blue bit 7, bit 3 -> red bit 6, ...).
    """
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def read_mask(
    path: str | Path, expected: tuple[int, int] | None = None, frame: str | Path | None = None
) -> np.ndarray:
    """A mask PNG as uint8 ``[H, W]`` object ids (palette indices; 'L' images are taken as ids too).

    expected: ``(H, W)`` the mask must have, the size of its frame (named by ``frame`` in the error).
    A mask of another size would be compared with frames and predictions it does not cover, so it is
    refused in one line naming the file, its size and the expected size.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask {path} does not exist")
    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            raise ValueError(
                f"mask {path} has mode {im.mode}; DAVIS masks are indexed-palette ('P') PNGs whose "
                "pixel values are object ids (write them with selfsup.data.davis.write_mask)"
            )
        if expected is not None and (im.height, im.width) != tuple(expected):
            h, w = expected
            of = f"its frame {frame}" if frame is not None else "the frames"
            raise ValueError(
                f"mask {path} is {im.width}x{im.height} pixels but {of} is {w}x{h}; a DAVIS mask has the "
                f"size of its frame: re-save it at {w}x{h}"
            )
        return np.array(im, dtype=np.uint8)


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write object ids uint8 ``[H, W]`` as a palette PNG with the DAVIS colours."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D [H, W] object ids, got shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f"mask ids must be in [0, 255], got [{mask.min()}, {mask.max()}]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette(davis_palette())
    im.save(path)


@dataclass(frozen=True)
class DavisSequence:
    """One sequence: frame JPEG paths and annotation PNG paths (sorted, aligned by name)."""

    name: str
    frames: list[Path]
    annotations: list[Path]

    def read_frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as uint8 ``[H, W, 3]``."""
        with Image.open(self.frames[i]) as im:
            return np.array(im.convert("RGB"))

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(H, W)`` of the first frame, from its header (DAVIS frames of a sequence share one size)."""
        with Image.open(self.frames[0]) as im:
            return im.height, im.width

    def read_annotation(self, i: int) -> np.ndarray:
        """Annotation ``i`` as uint8 ``[H, W]`` ids; one-line error unless it has the frames' size."""
        return read_mask(self.annotations[i], self.frame_size, self.frames[0])

    @property
    def num_objects(self) -> int:
        """Objects in the first-frame annotation (ids 1..K; void excluded)."""
        first = self.read_annotation(0)
        ids = np.unique(first[first != VOID])
        return int(ids.max()) if ids.size else 0


def sequence_names(root: str | Path, split: str = "val") -> list[str]:
    """Sequence names listed in ``ImageSets/2017/<split>.txt``."""
    path = Path(root) / "ImageSets" / "2017" / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; --davis-root must be a DAVIS 2017 folder with ImageSets/2017/{split}.txt "
            "(make a demo one with `selfsup data make-video-demo`)"
        )
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_sequence(root: str | Path, name: str) -> DavisSequence:
    """Frames and annotations of sequence ``name``; annotations may cover only the first frame."""
    root = Path(root)
    frame_dir = root / "JPEGImages" / RESOLUTION / name
    ann_dir = root / "Annotations" / RESOLUTION / name
    frames = sorted(frame_dir.glob("*.jpg"))
    annotations = sorted(ann_dir.glob("*.png"))
    if not frames:
        raise FileNotFoundError(f"sequence {name!r}: no JPEG frames in {frame_dir}")
    if not annotations or annotations[0].stem != frames[0].stem:
        raise FileNotFoundError(
            f"sequence {name!r}: the first frame's annotation {ann_dir / (frames[0].stem + '.png')} is missing"
        )
    return DavisSequence(name, frames, annotations)
