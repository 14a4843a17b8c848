"""Masks for inpainting (Pathak, Krähenbühl, Donahue, Darrell, Efros 2016, "Context Encoders", §3.3).

A mask is a float tensor ``[B, 1, H, W]`` with 1 on the pixels to predict (removed from the input)
and 0 on the context. Two of the paper's region shapes:

- ``center_mask``: one central square of side ``fraction * side`` (paper: a 64 px square in a
  128 px image, ``fraction = 0.5``, i.e. 1/4 of the image).
- ``random_block_mask``: ``num_blocks`` squares of side ``block_fraction * side`` at uniformly
  random positions, possibly overlapping (paper: "a number of smaller possibly overlapping masks,
  covering up to 1/4 of the image"; 4 blocks of side 1/4 cover at most 1/4).

``apply_mask(x, mask, fill)`` blanks the masked pixels (fill 0 = the normalized mean).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["apply_mask", "center_mask", "make_mask", "random_block_mask"]


def _side(fraction: float, size: int, name: str) -> int:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{name} must be in (0, 1) (a fraction of the image side), got {fraction}")
    return max(1, round(fraction * size))


def center_mask(batch: int, height: int, width: int, fraction: float = 0.5, device=None) -> Tensor:
    """``[batch, 1, H, W]`` float mask, 1 on the central ``fraction`` x side square (centered; for an
    odd leftover the extra pixel goes below / right)."""
    mh, mw = _side(fraction, height, "fraction"), _side(fraction, width, "fraction")
    top, left = (height - mh) // 2, (width - mw) // 2
    mask = torch.zeros(batch, 1, height, width, device=device)
    mask[:, :, top : top + mh, left : left + mw] = 1.0
    return mask


def random_block_mask(
    batch: int,
    height: int,
    width: int,
    block_fraction: float = 0.25,
    num_blocks: int = 4,
    *,
    generator: torch.Generator,
) -> Tensor:
    """``[batch, 1, H, W]`` float mask: the union of ``num_blocks`` random squares per image.

    Block ``k`` of image ``i`` covers rows ``[top, top + bh)`` and columns ``[left, left + bw)`` with
    ``top`` uniform in ``[0, H - bh]`` and ``left`` in ``[0, W - bw]``, drawn from ``generator``.
    """
    if num_blocks < 1:
        raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
    device = generator.device
    bh, bw = _side(block_fraction, height, "block_fraction"), _side(block_fraction, width, "block_fraction")
    top = torch.randint(0, height - bh + 1, (batch, num_blocks, 1, 1), generator=generator, device=device)
    left = torch.randint(0, width - bw + 1, (batch, num_blocks, 1, 1), generator=generator, device=device)
    rows = torch.arange(height, device=device).view(1, 1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, 1, width)
    inside = (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)  # [B, K, H, W]
    return inside.any(dim=1, keepdim=True).float()


def make_mask(
    kind: str,
    batch: int,
    height: int,
    width: int,
    *,
    fraction: float = 0.5,
    block_fraction: float = 0.25,
    num_blocks: int = 4,
    generator: torch.Generator,
) -> Tensor:
    """Dispatch on ``kind`` ("center" or "blocks"); see the two mask functions."""
    if kind == "center":
        return center_mask(batch, height, width, fraction, device=generator.device)
    if kind == "blocks":
        return random_block_mask(batch, height, width, block_fraction, num_blocks, generator=generator)
    raise ValueError(f"mask kind must be 'center' or 'blocks', got {kind!r}")


def apply_mask(x: Tensor, mask: Tensor, fill: float = 0.0) -> Tensor:
    """``x [B, C, H, W]`` with masked pixels (``mask [B, 1, H, W]`` == 1) replaced by ``fill``."""
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:]:
        raise ValueError(f"mask must be [B, 1, H, W] matching x {tuple(x.shape)}, got {tuple(mask.shape)}")
    return x * (1 - mask) + fill * mask
