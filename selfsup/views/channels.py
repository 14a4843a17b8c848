"""Channel conversion of uint8 images for an encoder that expects another channel count."""

from __future__ import annotations

import torch
from torch import Tensor

# ITU-R BT.601 luma weights (the weights PIL's convert("L") uses).
_LUMA = (0.299, 0.587, 0.114)


def match_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 ``[B, c, H, W]`` -> ``[B, channels, H, W]``: grey repeated to RGB, RGB to BT.601 luma."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1:
        return images.expand(-1, channels, -1, -1).contiguous()
    if channels == 1 and c >= 3:
        weights = torch.tensor(_LUMA, device=images.device).view(1, 3, 1, 1)
        luma = (images[:, :3].float() * weights).sum(1, keepdim=True)
        return luma.round().clamp(0, 255).to(images.dtype)
    raise ValueError(f"cannot convert {c}-channel images for an encoder with in_chans={channels}")
