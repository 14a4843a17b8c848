"""A small upsampling conv decoder: a backbone's spatial features -> a dense output map.

``spatial_features(backbone, x)`` turns ``backbone.forward_tokens(x) [B, N, D]`` back into a map
``[B, D, h, w]`` with ``h = ceil(H / patch_size)``, ``w = ceil(W / patch_size)`` (a CNN's last
feature map, or a ViT's patch grid), so any selfsup backbone can feed a decoder.

``ConvDecoder`` doubles the resolution per stage (4x4 transposed conv, stride 2, + BatchNorm +
ReLU, the up-convolution decoder of Context Encoders, Pathak et al. 2016, §3.1) until it reaches
the output size, then a 3x3 conv maps to ``out_chans`` and a bilinear resize fixes any leftover
factor (e.g. 32 -> 28 for Fashion-MNIST). Widths halve each stage from ``width``, floored at 16.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvDecoder", "spatial_features"]


def spatial_features(backbone: nn.Module, x: Tensor) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, token_dim, ceil(H/p), ceil(W/p)]`` from ``backbone.forward_tokens``."""
    patch = getattr(backbone, "patch_size", None)
    if not patch:
        raise ValueError(
            "the backbone has no patch_size (total stride); use a selfsup backbone from create_backbone"
        )
    tokens = backbone.forward_tokens(x)
    h, w = math.ceil(x.shape[-2] / patch), math.ceil(x.shape[-1] / patch)
    if tokens.shape[1] != h * w:
        raise ValueError(
            f"backbone returned {tokens.shape[1]} tokens for a {tuple(x.shape[-2:])} input with patch size "
            f"{patch}; expected {h}x{w}={h * w} (a backbone with class tokens must drop them in forward_tokens)"
        )
    return tokens.transpose(1, 2).reshape(x.shape[0], tokens.shape[2], h, w)


class ConvDecoder(nn.Module):
    """Feature map ``[B, in_dim, h, w]`` -> dense output ``[B, out_chans, *out_size]``.

    Args:
        in_dim: channels of the input map (the backbone's ``token_dim``).
        out_chans: output channels (pixels: image channels; colorization: number of bins).
        upsample: number of x2 stages; ``None`` picks the fewest that reach ``out_size`` from
            ``in_size`` (both must then be given).
        width: channels after the first stage (halved per stage, floored at 16).
    """

    def __init__(
        self,
        in_dim: int,
        out_chans: int,
        out_size: tuple[int, int],
        in_size: tuple[int, int] | None = None,
        upsample: int | None = None,
        width: int = 128,
    ) -> None:
        super().__init__()
        if upsample is None:
            if in_size is None:
                raise ValueError("ConvDecoder needs upsample or in_size to choose the number of x2 stages")
            ratio = max(out_size[0] / in_size[0], out_size[1] / in_size[1])
            upsample = max(0, math.ceil(math.log2(ratio) - 1e-9))
        if upsample < 0 or width < 1 or out_chans < 1:
            raise ValueError(
                f"upsample must be >= 0, width and out_chans >= 1; got {upsample}, {width}, {out_chans}"
            )
        self.out_size = (int(out_size[0]), int(out_size[1]))
        layers: list[nn.Module] = []
        c_in, c = in_dim, width
        for _ in range(upsample):
            layers += [
                nn.ConvTranspose2d(c_in, c, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            c_in, c = c, max(16, c // 2)
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, out_chans, 3, padding=1)

    def forward(self, features: Tensor) -> Tensor:
        out = self.head(self.body(features))
        if tuple(out.shape[-2:]) != self.out_size:
            out = F.interpolate(out, size=self.out_size, mode="bilinear", align_corners=False)
        return out
