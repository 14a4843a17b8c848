"""Small colour test images cut from real photos shipped with scikit-image (no download)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data


def photos(n: int = 8, size: int = 16) -> torch.Tensor:
    """Random crops of three real photos shipped with scikit-image, uint8 ``[n, 3, size, size]``."""
    imgs = [data.astronaut(), data.coffee(), data.chelsea()]
    g = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = imgs[i % 3]
        side = min(img.shape[:2]) // 2
        top, left = g.integers(0, img.shape[0] - side), g.integers(0, img.shape[1] - side)
        crop = torch.from_numpy(img[top : top + side, left : left + side].copy()).permute(2, 0, 1)[None]
        out.append(F.interpolate(crop.float(), size=size, mode="area"))
    return torch.cat(out).round().to(torch.uint8)
