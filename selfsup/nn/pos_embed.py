"""Fixed 2-D sine-cosine position embeddings (MAE, He et al. 2021, §A.1; "Attention Is All You Need").

Half of the channels encode the grid column and half the row; each half is the 1-D embedding
``[sin(pos * omega_k), cos(pos * omega_k)]`` with ``omega_k = 1 / 10000^(k / (D/4))``,
``k = 0 .. D/4 - 1``. MAE uses these (frozen) in both the encoder and the decoder; the class
token's position gets a zero vector.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sincos_1d", "sincos_2d"]


def sincos_1d(dim: int, positions: Tensor, temperature: float = 10000.0) -> Tensor:
    """``[N] -> [N, dim]``: ``[sin(p * omega), cos(p * omega)]`` with ``dim / 2`` frequencies."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding dim must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / temperature**omega
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_2d(dim: int, grid: tuple[int, int], cls_token: bool = False) -> Tensor:
    """``[gh * gw (+1), dim]`` embeddings of a ``grid = (gh, gw)`` patch grid in row-major order.

    The first ``dim / 2`` channels encode the column (x), the rest the row (y), as in MAE's
    reference. With ``cls_token=True`` a zero row is prepended for the class token.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding dim must be a multiple of 4, got {dim}")
    gh, gw = grid
    rows = torch.arange(gh).repeat_interleave(gw)  # y of each patch, row-major
    cols = torch.arange(gw).repeat(gh)  # x of each patch
    emb = torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim), emb], dim=0)
    return emb
