"""Random-region inpainting masks (Pathak, Krähenbühl, Donahue, Darrell, Efros 2016, "Context Encoders",
§3.3).

The paper's third region shape removes "arbitrary shapes" (it takes them from PASCAL VOC 2012
segmentation masks, deformed and pasted at random places, covering up to 1/4 of the image) because
a central square or square blocks leave sharp, fixed boundaries that the convolutional features
"latch onto"; it uses random-region masks for all its feature-learning experiments. No segmentation
masks ship offline here, so the shapes are smooth random blobs instead: uniform noise on a coarse
``grid x grid`` lattice, upsampled bicubically to ``H x W``, and the ``round(coverage * H * W)``
highest values of each image become the hole. Every image gets its own shape, of exactly that area
(ties have probability zero for continuous noise), made of one or a few irregular connected parts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_region_mask"]


def random_region_mask(
    batch: int,
    height: int,
    width: int,
    coverage: float = 0.25,
    grid: int = 4,
    *,
    generator: torch.Generator,
) -> Tensor:
    """``[batch, 1, H, W]`` float mask (1 = hole) covering ``round(coverage * H * W)`` pixels per image.

    Args:
        coverage: fraction of the image removed, in (0, 1) (paper: "up to 1/4", default 0.25).
        grid: side of the noise lattice (>= 2); a larger grid gives more, smaller blobs. The default 4
            gives blobs about a quarter of the side across.
        generator: source of randomness (its device is the mask's device).
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1) (the fraction of pixels removed), got {coverage}")
    if grid < 2:
        raise ValueError(f"grid must be >= 2 (the side of the noise lattice), got {grid}")
    if batch < 1 or height < 2 or width < 2:
        raise ValueError(f"batch must be >= 1 and the image at least 2x2, got {batch}, {height}x{width}")
    device = generator.device
    noise = torch.rand(batch, 1, grid, grid, generator=generator, device=device)
    smooth = F.interpolate(noise, size=(height, width), mode="bicubic", align_corners=False).flatten(1)
    k = max(1, round(coverage * height * width))
    kth = smooth.topk(k, dim=1).values[:, -1:]  # per-image threshold: the k-th largest value
    return (smooth >= kth).float().view(batch, 1, height, width)
