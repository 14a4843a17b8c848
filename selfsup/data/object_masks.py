"""Images with ground-truth object masks, for scoring attention against objects.

``load_masked_images(data, root, size, num)`` returns ``MaskedImages``: uint8 images ``[N, 3, S, S]``
and uint8 object ids ``[N, S, S]`` (0 background, 1..254 objects, 255 void as in PASCAL VOC), from

- ``stamps_over_video`` (default): held-out photo stamps over real video frames, exact masks
  (``selfsup.data.stamps_over_video``); ``root`` is the stamps folder;
- ``folder``: ``root/images/<name>.<ext>`` with ``root/masks/<name>.png`` (object ids as palette
  indices or grey levels, the VOC / DAVIS convention). Images are resized to ``S x S`` (bilinear,
  antialiased; DINO's ``visualize_attention.py`` also resizes to a fixed square, 480 x 480) and masks
  with nearest neighbour, so ids are never blended.

Any other dataset has labels but no masks: refused in one line that names the two that have them.
An image whose mask is missing, has no object pixel, or cannot be read is refused naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from selfsup.data.image_folder import is_image_file

__all__ = [
    "MASKED_DATASETS",
    "VOID_ID",
    "MaskedImages",
    "load_masked_images",
    "masked_dataset",
    "read_mask_folder",
]

MASKED_DATASETS = ("stamps_over_video", "folder")
VOID_ID = 255  # PASCAL VOC's "void / difficult" label: never an object


@dataclass
class MaskedImages:
    """images uint8 ``[N, 3, S, S]``; ids uint8 ``[N, S, S]``; source: a line saying where they come from."""

    images: Tensor
    ids: Tensor
    source: str


def masked_dataset(data: str) -> str:
    """The canonical name of ``data`` when it has object masks, else a one-line refusal naming those that do."""
    name = data.strip().lower().replace("-", "_")
    if name not in MASKED_DATASETS:
        raise ValueError(
            f"dataset {data!r} has no ground-truth object masks; attention-masks needs images with exact "
            "masks: --data stamps_over_video (held-out stamps over real video frames, the default) or "
            "--data folder --root DIR (DIR/images/*.jpg with DIR/masks/*.png)"
        )
    return name


def read_mask_folder(root: str | Path, size: int, num: int | None = None) -> MaskedImages:
    """The first ``num`` images of ``root/images`` (sorted by name) with their ``root/masks/<stem>.png``."""
    root = Path(root)
    image_dir, mask_dir = root / "images", root / "masks"
    if not image_dir.is_dir():
        raise FileNotFoundError(
            f"{image_dir} does not exist; --data folder needs ROOT/images/<name>.<ext> and ROOT/masks/<name>.png"
        )
    files = sorted(p for p in image_dir.iterdir() if is_image_file(p))[:num]
    if not files:
        raise FileNotFoundError(f"no images in {image_dir}")
    images, ids = [], []
    for path in files:
        mask_path = mask_dir / f"{path.stem}.png"
        if not mask_path.is_file():
            raise ValueError(
                f"image {path} has no ground-truth mask {mask_path}; attention-masks scores attention "
                "against object masks, so every image needs one (or use --data stamps_over_video)"
            )
        try:
            with Image.open(path) as im:
                rgb = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            with Image.open(mask_path) as m:
                if m.mode not in ("P", "L"):
                    raise ValueError(f"mode {m.mode}, expected palette (P) or grey (L) object ids")
                mask = m.resize((size, size), Image.Resampling.NEAREST)
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"cannot read {path} / {mask_path}: {err}") from err
        mask_ids = np.asarray(mask, dtype=np.uint8)
        if not ((mask_ids > 0) & (mask_ids != VOID_ID)).any():
            raise ValueError(f"mask {mask_path} has no object pixel (ids other than 0 and {VOID_ID})")
        images.append(torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1))
        ids.append(torch.from_numpy(mask_ids.copy()))
    return MaskedImages(torch.stack(images), torch.stack(ids), f"{len(files)} images with masks from {root}")


def load_masked_images(
    data: str,
    root: str | Path | None,
    size: int,
    num: int | None,
    seed: int = 0,
    videos: Sequence[str | Path] | None = None,
) -> MaskedImages:
    """``num`` images of ``data`` at ``size`` px with their object ids; see the module docstring."""
    name = masked_dataset(data)
    if name == "stamps_over_video":
        from selfsup.data.stamps_over_video import StampsOverVideo

        ds = StampsOverVideo(num or 160, size, seed=seed, stamps_root=root, videos=videos)
        return MaskedImages(ds.images, ds.masks.to(torch.uint8), ds.source)
    if root is None:
        raise ValueError("--data folder needs --root DIR (with DIR/images and DIR/masks)")
    return read_mask_folder(root, size, num)
