"""A masked (causal) 2-D context network over a grid of patch latents, for image CPC.

CPC on images (van den Oord et al. 2018, §3.2; Hénaff et al. 2019, "Data-Efficient Image Recognition
with Contrastive Predictive Coding") summarises, for every grid position ``(i, j)``, the latents of the
rows at or above ``i`` into a context ``c_{i,j}``, from which latents ``k`` rows below are predicted
(PixelCNN-style masking, van den Oord et al. 2016). Here each layer is a convolution whose kernel
covers rows ``i − kh + 1 .. i`` only (padding on top, none below) and the full width, so by induction
``c_{i,·}`` depends only on latent rows ``≤ i``: it never sees the rows it predicts.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CausalConv2d(nn.Conv2d):
    """Conv with kernel ``(kh, kw)`` (``kw`` odd) whose output row ``i`` reads input rows ``i−kh+1 .. i``."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int] = (2, 3)) -> None:
        kh, kw = kernel
        if kh < 1 or kw < 1 or kw % 2 == 0:
            raise ValueError(f"kernel must be (kh >= 1, odd kw), got {kernel}")
        super().__init__(c_in, c_out, kernel_size=(kh, kw), padding=0)
        self._pad = (kw // 2, kw // 2, kh - 1, 0)  # left, right, top, bottom

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self._pad))


class MaskedContext2d(nn.Module):
    """``z [B, D, H, W] → c [B, C, H, W]`` with ``c[:, :, i]`` a function of ``z[:, :, :i+1]`` only.

    A 1x1 input projection, then ``layers`` residual blocks ``x + CausalConv(ReLU(x))`` (receptive field
    grows by ``kh − 1`` rows upward per layer). No normalisation across positions, which would leak
    information from rows below.

    Args:
        in_dim: latent dimension ``D``.
        dim: context dimension ``C``.
        layers: number of causal blocks (3 rows up with the default kernel).
        kernel: ``(kh, kw)`` of each causal conv, default ``(2, 3)``.
    """

    def __init__(self, in_dim: int, dim: int, layers: int = 3, kernel: tuple[int, int] = (2, 3)) -> None:
        super().__init__()
        if layers < 0:
            raise ValueError(f"layers must be >= 0, got {layers}")
        self.proj = nn.Conv2d(in_dim, dim, 1)
        self.blocks = nn.ModuleList(CausalConv2d(dim, dim, kernel) for _ in range(layers))

    def forward(self, z: Tensor) -> Tensor:
        x = self.proj(z)
        for block in self.blocks:
            x = x + block(F.relu(x))
        return x
