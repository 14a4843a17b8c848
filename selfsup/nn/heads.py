"""Projection head: the MLP ``g(·)`` between encoder features and the contrastive loss.

SimCLR (Chen et al. 2020, §2.1 and Fig. 8) showed that a non-linear projection ``z = W2 σ(W1 h)`` and a
loss on ``z`` — not on the representation ``h`` — improves the representation by >10 % linear accuracy;
v1 uses 2 layers with a 128-d output. SimCLR v2 (Chen et al. 2020b) uses 3 layers; MoCo v3 (Chen, Xie,
He 2021) adds a batch norm on the output (``last_bn=True``) and has no bias in any linear layer
(``last_bias=False``; official ``moco/builder.py``, ``_build_mlp``).
"""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """MLP ``[Linear - BN - ReLU] × (num_layers - 1) - Linear [- BN]`` mapping ``[B, in_dim] → [B, out_dim]``.

    Args:
        in_dim: encoder feature size (2048 for ResNet-50, 512 for ResNet-18).
        hidden_dim: width of the hidden layers; 2048 as in SimCLR (equal to ResNet-50's feature size).
        out_dim: projection size; 128 in SimCLR (their Fig. 8 shows it matters little).
        num_layers: number of linear layers; 2 in SimCLR v1, 3 in SimCLR v2; 1 gives a linear projection.
        batch_norm: batch norm after every hidden linear layer (SimCLR's implementation does). Linear
            layers followed by a batch norm have no bias, which the norm's shift would make redundant.
        last_bn: affine-free batch norm on the output, as in MoCo v3 / SimCLR v2; default False (v1).
        last_bias: bias of the output linear layer when no ``last_bn`` follows it; True as in SimCLR,
            False for MoCo v3's ResNet predictor (the reference's linear layers are all bias-free).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 2048,
        out_dim: int = 128,
        num_layers: int = 2,
        batch_norm: bool = True,
        last_bn: bool = False,
        last_bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ProjectionHead {name} must be a positive int, got {value!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(
                f"ProjectionHead num_layers must be an int >= 1 (SimCLR v1: 2), got {num_layers!r}"
            )
        self.in_dim, self.hidden_dim, self.out_dim, self.num_layers = in_dim, hidden_dim, out_dim, num_layers

        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            dim = hidden_dim
        layers.append(nn.Linear(dim, out_dim, bias=last_bias and not last_bn))
        if last_bn:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, in_dim]`` → ``[B, out_dim]``."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"ProjectionHead expects features [B, {self.in_dim}], got {tuple(x.shape)}; "
                "pool the backbone output first or set in_dim to the backbone's num_features"
            )
        return self.net(x)
