"""Batched geometric view ops: per-sample random resized crop (with fused flip), flip and resize.

Input and output are float batches ``[B, C, H, W]`` in [0, 1]; every sample gets its own crop box
and flip. Randomness comes only from the explicit ``generator`` (see ``selfsup.views.ops``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.views.ops import (
    bernoulli,
    check_generator,
    check_images,
    check_probability,
    check_range,
    to_float,
)

__all__ = [
    "CropParams",
    "crop_coordinates",
    "horizontal_flip",
    "random_crop_flip",
    "random_resized_crop",
    "resize",
    "resized_crop",
    "sample_at",
    "sample_crop_boxes",
]

# torchvision's RandomResizedCrop tries 10 boxes before it falls back to a central crop.
_ATTEMPTS = 10


class CropParams(NamedTuple):
    """Per-sample parameters of a random resized crop.

    boxes:   float ``[B, 4]`` as ``(x0, y0, w, h)`` in pixels; the image spans ``[0, W] x [0, H]``,
             so a box is inside the image when ``x0 >= 0``, ``x0 + w <= W`` (same for y).
             Boxes are sub-pixel (not rounded): the bilinear resampling handles fractions.
    flipped: bool ``[B]``, True where the crop was mirrored left-right.
    """

    boxes: Tensor
    flipped: Tensor


def _pair(size: int | tuple[int, int], name: str = "size") -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(
            f"{name} must be a positive int or a pair (height, width) of positive ints, got {size}"
        )
    return int(size[0]), int(size[1])


def sample_crop_boxes(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Draw ``batch`` crop boxes the way torchvision's RandomResizedCrop does, all at once.

    Per sample: area fraction ~ U(scale), aspect ratio w/h log-uniform in ``ratio``; the box is
    placed uniformly where it fits. As in torchvision, 10 candidates are tried and the first that
    fits the image is kept; if none fits, the fallback is the central crop of the whole image with
    its aspect ratio clamped into ``ratio``. Defaults (0.08-1, 3/4-4/3) are Inception's
    (Szegedy et al. 2015), used by SimCLR (Chen et al. 2020).

    Returns float ``[batch, 4]`` boxes ``(x0, y0, w, h)`` in pixels (see ``CropParams``).
    """
    if batch < 0 or height < 1 or width < 1:
        raise ValueError(f"need batch >= 0 and a positive image size, got batch={batch}, {height}x{width}")
    check_range(scale, "scale", low=0.0, high=1.0)
    check_range(ratio, "ratio", low=0.0)
    u = torch.rand(batch, _ATTEMPTS, 4, generator=generator, device=device)
    area = (scale[0] + (scale[1] - scale[0]) * u[..., 0]) * (height * width)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[..., 1])
    w = torch.sqrt(area * aspect)
    h = torch.sqrt(area / aspect)
    fits = (w <= width) & (h <= height)
    # argmax returns the first maximal index, i.e. the first candidate that fits.
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
    any_fits = fits.any(dim=1)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    ux, uy = u[..., 2].gather(1, first).squeeze(1), u[..., 3].gather(1, first).squeeze(1)

    in_ratio = width / height
    if in_ratio < ratio[0]:
        fb_w, fb_h = float(width), width / ratio[0]
    elif in_ratio > ratio[1]:
        fb_w, fb_h = height * ratio[1], float(height)
    else:
        fb_w, fb_h = float(width), float(height)
    w = torch.where(any_fits, w, torch.full_like(w, fb_w))
    h = torch.where(any_fits, h, torch.full_like(h, fb_h))
    # Where no candidate fits, ux = uy = 0.5 puts the fallback box in the centre.
    ux = torch.where(any_fits, ux, torch.full_like(ux, 0.5))
    uy = torch.where(any_fits, uy, torch.full_like(uy, 0.5))
    x0 = ux * (width - w)
    y0 = uy * (height - h)
    return torch.stack([x0, y0, w, h], dim=1)


def crop_coordinates(
    boxes: Tensor, image_size: tuple[int, int], size: int | tuple[int, int], flipped: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Where each output column and row of a resized crop samples the input, in normalized coordinates.

    boxes: float ``[B, 4]`` ``(x0, y0, w, h)`` in pixels of an ``image_size = (H, W)`` image;
    flipped: optional bool ``[B]``. Returns ``gx`` ``[B, size_w]`` and ``gy`` ``[B, size_h]`` in [-1, 1]
    (``align_corners=False``: -1 and 1 are the image edges). This is ``F.affine_grid`` for
    ``theta = [[sx, 0, tx], [0, sy, ty]]`` taken apart: a crop box has no rotation or shear, so x
    depends only on the column and y only on the row (9x cheaper than affine_grid here).
    """
    out_h, out_w = _pair(size)
    height, width = image_size
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape [B, 4], got {tuple(boxes.shape)}")
    x0, y0, w, h = boxes.unbind(1)
    # The affine map sends the output's [-1, 1] onto the box: scale w / W about the box centre.
    sx, sy = w / width, h / height
    tx, ty = (2 * x0 + w) / width - 1, (2 * y0 + h) / height - 1
    if flipped is not None:
        sx = torch.where(flipped.to(sx.device), -sx, sx)
    # Pixel centres of the output in normalized coordinates: (2 i + 1) / n - 1.
    base_x = (torch.arange(out_w, dtype=sx.dtype, device=sx.device) * 2 + 1) / out_w - 1
    base_y = (torch.arange(out_h, dtype=sy.dtype, device=sy.device) * 2 + 1) / out_h - 1
    return torch.addcmul(tx[:, None], sx[:, None], base_x), torch.addcmul(ty[:, None], sy[:, None], base_y)


def sample_at(x: Tensor, gx: Tensor, gy: Tensor) -> Tensor:
    """Bilinear samples of ``[B, C, H, W]`` at the grid ``gx[b] x gy[b]`` -> ``[B, C, len(gy), len(gx)]``.

    One batched ``grid_sample`` (bilinear, ``align_corners=False``) with border padding, so sample
    points within half a pixel of the edge repeat the edge instead of fading to black.
    """
    b, out_h, out_w = x.shape[0], gy.shape[1], gx.shape[1]
    gx, gy = gx.to(dtype=x.dtype, device=x.device), gy.to(dtype=x.dtype, device=x.device)
    grid = torch.stack(
        [gx[:, None, :].expand(b, out_h, out_w), gy[:, :, None].expand(b, out_h, out_w)], dim=-1
    )
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resized_crop(
    x: Tensor, boxes: Tensor, size: int | tuple[int, int], flipped: Tensor | None = None
) -> Tensor:
    """Crop each sample's box and resize it to ``size``: one batched affine grid + ``grid_sample``.

    x:       float ``[B, C, H, W]``.
    boxes:   float ``[B, 4]`` ``(x0, y0, w, h)`` in pixels (see ``CropParams``).
    size:    output ``int`` (square) or ``(height, width)``.
    flipped: optional bool ``[B]``; a left-right flip is a sign in the same affine map, so it is free.
    Returns float ``[B, C, size_h, size_w]``.

    Bilinear with ``align_corners=False`` (pixel-area convention, as torchvision's resize). Unlike
    torchvision's antialiased resize there is no low-pass filter when a crop is shrunk;
    SimCLR-style crops are mostly enlarged, where the two agree.
    """
    check_images(x, "x")
    if boxes.shape != (x.shape[0], 4):
        raise ValueError(f"boxes must have shape [B, 4] = [{x.shape[0]}, 4], got {tuple(boxes.shape)}")
    boxes = boxes.to(dtype=x.dtype, device=x.device)
    gx, gy = crop_coordinates(boxes, (x.shape[2], x.shape[3]), size, flipped)
    return sample_at(x, gx, gy)


def random_resized_crop(
    x: Tensor,
    size: int | tuple[int, int],
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    *,
    flip_p: float = 0.0,
    generator: torch.Generator,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, CropParams]:
    """Per-sample random resized crop of a float batch ``[B, C, H, W]`` -> ``[B, C, size_h, size_w]``.

    Boxes follow torchvision's RandomResizedCrop (see ``sample_crop_boxes``); ``flip_p`` fuses a
    per-sample horizontal flip into the same resampling (SimCLR uses 0.5). With
    ``return_params=True`` also returns the ``CropParams`` (boxes and flips) that were used.
    """
    check_images(x, "x")
    check_generator(generator, x)
    check_probability(flip_p, "flip_p")
    _pair(size)
    b, _, height, width = x.shape
    boxes = sample_crop_boxes(b, height, width, scale, ratio, generator=generator, device=x.device)
    flipped = bernoulli(b, flip_p, generator=generator, device=x.device)
    out = resized_crop(x, boxes, size, flipped)
    return (out, CropParams(boxes, flipped)) if return_params else out


def random_crop_flip(
    images: Tensor, size: int, scale: tuple[float, float], flip_p: float, *, generator: torch.Generator
) -> Tensor:
    """uint8 ``[B, C, H, W]`` -> float ``[B, C, size, size]`` in [0, 1]: a random resized crop (area fraction in
    ``scale``) and a horizontal flip with probability ``flip_p``, in one resampling. The single view of the
    pretext tasks (rotation, inpainting, colorization, split-brain), MAE and supervised training."""
    return random_resized_crop(to_float(images), size, scale, flip_p=flip_p, generator=generator)


def horizontal_flip(x: Tensor, p: float = 0.5, *, generator: torch.Generator) -> Tensor:
    """Mirror each sample of ``[B, C, H, W]`` (any dtype) left-right with probability ``p`` (SimCLR: 0.5)."""
    check_images(x, "x", floating=None)
    check_generator(generator, x)
    check_probability(p, "p")
    flip = bernoulli(x.shape[0], p, generator=generator, device=x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def resize(x: Tensor, size: int | tuple[int, int], antialias: bool = True) -> Tensor:
    """Resize a float batch ``[B, C, H, W]`` to ``size`` (bilinear, antialiased like torchvision's Resize).

    A no-op when the batch already has that size.
    """
    check_images(x, "x")
    out_h, out_w = _pair(size)
    if x.shape[-2:] == (out_h, out_w):
        return x
    return F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=antialias)
