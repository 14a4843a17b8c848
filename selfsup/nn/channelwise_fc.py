"""Bridges between an encoder's feature map and a decoder (Pathak et al. 2016, "Context Encoders", §3.1).

A fully convolutional encoder-decoder cannot move information from one corner of the feature map to
another (each output only sees its receptive field), so Context Encoders join encoder and decoder
with a **channel-wise fully-connected layer**: every channel's ``h x w`` map is mapped to a new
``h x w`` map by its own dense ``hw x hw`` matrix (``D * (hw)^2`` weights instead of a full FC's
``(D hw)^2``), followed by a 1x1 convolution (stride 1) that mixes channels (§3.1).

``PooledBridge`` is the stricter alternative: the decoder sees only the globally average-pooled
feature vector ``[B, D]`` (the very vector that kNN / linear evaluation reads), expanded back to a
``D x h x w`` map by one linear layer, so everything the decoder needs must pass through it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ChannelwiseFC", "PooledBridge"]


class ChannelwiseFC(nn.Module):
    """``[B, D, h, w] -> [B, D, h, w]``: per-channel dense map over positions, then a 1x1 conv (§3.1)."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        if channels < 1 or height < 1 or width < 1:
            raise ValueError(f"channels, height and width must be >= 1, got {channels}, {height}, {width}")
        n = height * width
        self.size = (height, width)
        self.weight = nn.Parameter(torch.randn(channels, n, n) / n**0.5)  # fan-in init per channel
        self.bias = nn.Parameter(torch.zeros(channels, n))
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, d, h, w = x.shape
        if (h, w) != self.size or d != self.weight.shape[0]:
            raise ValueError(
                f"expected [B, {self.weight.shape[0]}, {self.size[0]}, {self.size[1]}], got {tuple(x.shape)}"
            )
        y = torch.einsum("bdi,doi->bdo", x.flatten(2), self.weight) + self.bias
        return self.mix(torch.relu(y).view(b, d, h, w))


class PooledBridge(nn.Module):
    """``[B, D, h, w] -> [B, D, h, w]`` through the spatial mean ``[B, D]`` and one linear layer + ReLU."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        if channels < 1 or height < 1 or width < 1:
            raise ValueError(f"channels, height and width must be >= 1, got {channels}, {height}, {width}")
        self.shape = (channels, height, width)
        self.fc = nn.Linear(channels, channels * height * width)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected [B, {', '.join(map(str, self.shape))}], got {tuple(x.shape)}")
        return torch.relu(self.fc(x.mean(dim=(2, 3)))).view(x.shape[0], *self.shape)
