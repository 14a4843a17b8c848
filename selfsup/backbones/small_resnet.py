"""CIFAR-style ResNets that train on a CPU: ``resnet18_cifar`` and the reduced-width ``resnet_small``.

Topology (He et al. 2016, "Deep Residual Learning", BasicBlock ResNet), adapted to small images as
SimCLR does for CIFAR-10 (Chen et al. 2020, Appendix B.9): the 7x7 stride-2 stem conv becomes a 3x3
stride-1 conv and the stem max-pool is removed, so a 32 px image keeps full resolution in stage 1
and ends as a 4x4 map (total stride 8).

- ``resnet18_cifar``: stage widths 64-128-256-512, blocks [2, 2, 2, 2], ``num_features = 512``
  (11.2 M parameters, ~0.56 GMAC per 32 px image).
- ``resnet_small``: same topology at base width ``width`` (default 16 -> 16-32-64-128) and
  ``depths`` blocks per stage (default [2, 2, 2, 2]); a quarter of the width gives ~1/16 of the
  parameters and FLOPs of ``resnet18_cifar``, enough to train several Fashion-MNIST epochs in minutes.

Both accept any ``in_chans`` (1 for grayscale) and any image size >= 8 (a 1x1 final map at 8 px).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from selfsup.backbones.base import Backbone
from selfsup.registry import BACKBONES


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual shortcut: ``[B, c_in, H, W] -> [B, c_out, H/s, W/s]``.

    The shortcut is the identity when shapes match, else a strided 1x1 conv + BN (He et al. 2016,
    option B).
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(Backbone):
    """CIFAR-style ResNet backbone; see the module docstring.

    Args:
        width: channels of stage 1; stage ``i`` has ``width * 2**i`` (default 16, ``resnet_small``;
            64 gives ResNet-18's 64-128-256-512).
        depths: BasicBlocks per stage (default [2, 2, 2, 2], ResNet-18). Every stage after the
            first halves the resolution, so ``patch_size`` (total stride) is ``2 ** (len(depths) - 1)``.
        in_chans: input channels (3 RGB, 1 grayscale).
        zero_init_residual: zero the last BN gamma of each block so every residual branch starts at
            zero and each block starts as ReLU(shortcut(x)) (Goyal et al. 2017, "Accurate, Large
            Minibatch SGD"; default True, which helps large-batch SSL training start stably).
        image_size: recorded in ``spec`` only; the net is fully convolutional.

    Shapes: ``forward``: ``[B, in_chans, H, W] -> [B, width * 2**(S-1)]``; ``forward_tokens``:
    ``-> [B, ceil(H/stride) * ceil(W/stride), width * 2**(S-1)]`` with ``S = len(depths)``.
    """

    def __init__(
        self,
        width: int = 16,
        depths: Sequence[int] = (2, 2, 2, 2),
        in_chans: int = 3,
        zero_init_residual: bool = True,
        image_size: int | None = None,
    ) -> None:
        super().__init__(in_chans)
        depths = list(depths)
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int (base channels, e.g. 16 or 64), got {width!r}")
        if not depths or not all(isinstance(d, int) and d >= 1 for d in depths):
            raise ValueError(
                f"depths must be a non-empty list of ints >= 1 (e.g. [2, 2, 2, 2]), got {depths!r}"
            )
        widths = [width * 2**i for i in range(len(depths))]
        # CIFAR stem (SimCLR App. B.9): 3x3 stride 1, no max-pool, to keep 32 px images' detail.
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages = []
        c_in = width
        for i, (c_out, depth) in enumerate(zip(widths, depths, strict=True)):
            blocks = [
                BasicBlock(c_in if j == 0 else c_out, c_out, 2 if (i > 0 and j == 0) else 1)
                for j in range(depth)
            ]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.num_features = self.token_dim = widths[-1]
        self.patch_size = 2 ** (len(depths) - 1)
        self._init_weights(zero_init_residual)
        self._set_spec(
            "resnet_small",
            {
                "in_chans": in_chans,
                "image_size": image_size,
                "width": width,
                "depths": depths,
                "zero_init_residual": zero_init_residual,
            },
        )

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He et al. 2015 init, fan_out as in the reference ResNet implementations.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def feature_map(self, x: Tensor) -> Tensor:
        """Last feature map: ``[B, in_chans, H, W] -> [B, num_features, h, w]`` (no input check)."""
        return self.stages(self.stem(x))

    def _forward_pooled(self, x: Tensor) -> Tensor:
        return self.feature_map(x).mean(dim=(2, 3))

    def _forward_tokens(self, x: Tensor) -> Tensor:
        return self.feature_map(x).flatten(2).transpose(1, 2)


@BACKBONES.register("resnet_small")
def resnet_small(
    in_chans: int = 3,
    image_size: int | None = None,
    width: int = 16,
    depths: Sequence[int] = (2, 2, 2, 2),
    zero_init_residual: bool = True,
) -> CifarResNet:
    """Reduced-width CIFAR ResNet (default 16-32-64-128, blocks [2, 2, 2, 2]; ~1/16 of resnet18_cifar)."""
    return CifarResNet(width, depths, in_chans, zero_init_residual, image_size)


@BACKBONES.register("resnet18_cifar")
def resnet18_cifar(
    in_chans: int = 3, image_size: int | None = None, zero_init_residual: bool = True
) -> CifarResNet:
    """CIFAR-style ResNet-18 of SimCLR (Chen et al. 2020, App. B.9): 64-128-256-512, [2, 2, 2, 2]."""
    net = CifarResNet(64, (2, 2, 2, 2), in_chans, zero_init_residual, image_size)
    net._set_spec(
        "resnet18_cifar",
        {"in_chans": in_chans, "image_size": image_size, "zero_init_residual": zero_init_residual},
    )
    return net
