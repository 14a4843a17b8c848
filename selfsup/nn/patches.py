"""Patchify / unpatchify and per-sample random masking for masked image modelling.

MAE (He et al. 2021, "Masked Autoencoders Are Scalable Vision Learners", §3) splits an image into
non-overlapping ``p x p`` patches, keeps a random subset per sample (75 % masked by default) and
reconstructs the rest. Masking is "random sampling without replacement, following a uniform
distribution", done by sorting per-sample uniform noise: the patches with the smallest noise are
kept. ``ids_restore`` is the inverse permutation, so ``gather(shuffled, ids_restore)`` puts tokens
back in raster order.

Patch layout: a patch's pixels are flattened as ``(p_row, p_col, channel)``, as in MAE's reference
``patchify``, so a patch vector has ``p * p * C`` entries and patches are in row-major grid order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MaskingResult", "num_visible", "patchify", "random_masking", "unpatchify"]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """``[B, C, H, W] -> [B, L, p*p*C]`` with ``L = (H/p) * (W/p)`` in row-major grid order."""
    if images.ndim != 4:
        raise ValueError(f"images must be [B, C, H, W], got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    p = int(patch_size)
    if p < 1 or h % p or w % p:
        raise ValueError(
            f"image size {h}x{w} is not a multiple of patch_size={p}; resize the images or pick a "
            "patch size that divides both sides"
        )
    gh, gw = h // p, w // p
    x = images.reshape(b, c, gh, p, gw, p)
    x = x.permute(0, 2, 4, 3, 5, 1)  # [B, gh, gw, p, p, C]
    return x.reshape(b, gh * gw, p * p * c)


def unpatchify(patches: Tensor, patch_size: int, grid: tuple[int, int], channels: int) -> Tensor:
    """Inverse of ``patchify``: ``[B, L, p*p*C] -> [B, C, gh*p, gw*p]`` for ``grid = (gh, gw)``."""
    b, length, dim = patches.shape
    p = int(patch_size)
    gh, gw = grid
    if length != gh * gw or dim != p * p * channels:
        raise ValueError(
            f"patches of shape {tuple(patches.shape)} do not fit grid {grid}, patch_size={p}, "
            f"channels={channels} (expected [B, {gh * gw}, {p * p * channels}])"
        )
    x = patches.reshape(b, gh, gw, p, p, channels)
    x = x.permute(0, 5, 1, 3, 2, 4)  # [B, C, gh, p, gw, p]
    return x.reshape(b, channels, gh * p, gw * p)


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """Visible patches per sample: ``round(L * (1 - mask_ratio))``, at least 1."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    return max(1, round(num_patches * (1.0 - mask_ratio)))


@dataclass
class MaskingResult:
    """Output of ``random_masking`` for tokens ``[B, L, D]`` keeping ``K`` per sample.

    kept:        ``[B, K, D]`` the visible tokens, in order of increasing noise.
    mask:        ``[B, L]`` float, 1 at masked positions, 0 at visible ones (raster order).
    ids_restore: ``[B, L]`` long, inverse of the shuffle: ``shuffled.gather(1, ids_restore)``
                 is raster order, where ``shuffled = cat([kept, masked])``.
    ids_keep:    ``[B, K]`` long, raster indices of the kept tokens.
    """

    kept: Tensor
    mask: Tensor
    ids_restore: Tensor
    ids_keep: Tensor


def random_masking(
    tokens: Tensor,
    mask_ratio: float = 0.75,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> MaskingResult:
    """Keep ``round(L * (1 - mask_ratio))`` random tokens per sample (argsort of uniform noise).

    Args:
        tokens: ``[B, L, D]``.
        mask_ratio: fraction masked, 0.75 (MAE §4.1, Fig. 5: 75 % is best for both fine-tuning
            and linear probing).
        noise: optional ``[B, L]`` noise (drawn once in ``make_batch`` so resume is exact);
            otherwise uniform noise is drawn from ``generator``.
    """
    if tokens.ndim != 3:
        raise ValueError(f"tokens must be [B, L, D], got shape {tuple(tokens.shape)}")
    b, length, dim = tokens.shape
    keep = num_visible(length, mask_ratio)
    if noise is None:
        noise = torch.rand(b, length, device=tokens.device, generator=generator)
    elif noise.shape != (b, length):
        raise ValueError(f"noise must have shape {(b, length)}, got {tuple(noise.shape)}")
    ids_shuffle = noise.argsort(dim=1)  # small noise = kept
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :keep]
    kept = tokens.gather(1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))
    mask = torch.ones(b, length, device=tokens.device, dtype=tokens.dtype)
    mask[:, :keep] = 0
    mask = mask.gather(1, ids_restore)
    return MaskingResult(kept=kept, mask=mask, ids_restore=ids_restore, ids_keep=ids_keep)


def patch_grid(images: Tensor, patch_size: int, stride: int) -> tuple[Tensor, int, int]:
    """Cut ``images [B, C, H, W]`` into overlapping patches ``[B·Gh·Gw, C, p, p]`` (row-major per image)."""
    b, c, h, w = images.shape
    if h < patch_size or w < patch_size:
        raise ValueError(f"patch_size {patch_size} exceeds the {h}x{w} views; lower method.patch_size")
    gh, gw = (h - patch_size) // stride + 1, (w - patch_size) // stride + 1
    cols = F.unfold(images, kernel_size=patch_size, stride=stride)  # [B, C p p, Gh Gw]
    patches = cols.transpose(1, 2).reshape(b * gh * gw, c, patch_size, patch_size)
    return patches, gh, gw
