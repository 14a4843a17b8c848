"""A small conv discriminator for the adversarial term of Context Encoders (Pathak et al. 2016, §3.2).

DCGAN-style (Radford et al. 2016): stride-2 4x4 convs with LeakyReLU(0.2) (BatchNorm after all but
the first), halving the resolution until it is at most 4x4, then a linear layer on the flattened map
to one logit per image. ``[B, C, H, W] -> [B]`` logits (real = high).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

__all__ = ["ConvDiscriminator"]


class ConvDiscriminator(nn.Module):
    """``in_chans`` x ``image_size`` images -> one logit each; ``width`` channels after the first conv."""

    def __init__(self, in_chans: int, image_size: int, width: int = 32) -> None:
        super().__init__()
        if in_chans < 1 or image_size < 4 or width < 1:
            raise ValueError(
                f"in_chans >= 1, image_size >= 4 and width >= 1 required, got {in_chans}, {image_size}, {width}"
            )
        layers: list[nn.Module] = []
        c_in, c, size, first = in_chans, width, image_size, True
        while size > 4:
            layers.append(nn.Conv2d(c_in, c, 4, stride=2, padding=1, bias=first))
            if not first:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            size = math.floor((size + 2 - 4) / 2) + 1
            c_in, c, first = c, min(4 * width, 2 * c), False
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * size * size, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x).flatten(1)).squeeze(1)
