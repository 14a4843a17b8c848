"""DINO's projection head: MLP -> L2-normalized bottleneck -> weight-normalized linear layer.

DINO (Caron et al. 2021, §3.1 and Appendix C): a 3-layer MLP with hidden dimension 2048 and GELU,
a 256-d bottleneck that is L2-normalized, and a weight-normalized fully connected layer (Salimans &
Kingma 2016) to ``K = 65536`` output dimensions (batch norm in the MLP optional, ``use_bn``). The weight norm's gain ``g`` is fixed to 1
(``norm_last_layer=True``, the reference code's default), so each output is the cosine between the
bottleneck and a learned prototype direction: logits lie in [-1, 1] before the temperature. No batch
norm by default, so the head works for ViTs without batch statistics (Appendix C). The MLP's linear layers start
from a truncated normal with std 0.02 and zero bias, as in the reference code; the last layer keeps
PyTorch's default ``nn.Linear`` init (official ``vision_transformer.py``, ``DINOHead``: ``self.apply(
self._init_weights)`` runs before ``last_layer`` is built), with its gain filled with 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DINOHead", "WeightNormLinear"]


class WeightNormLinear(nn.Module):
    """Bias-free ``y = x @ W.T`` with ``W_k = g_k · v_k / ||v_k||``: ``[N, in_dim] -> [N, out_dim]``.

    ``v [out_dim, in_dim]`` is the direction, ``g [out_dim]`` the gain (initialized to 1). With
    ``learn_gain=False`` the gain stays 1 (DINO's ``norm_last_layer``), which the DINO authors found
    makes training more stable.

    ``v`` starts as ``nn.Linear``'s default weight, ``U(-1/√in_dim, 1/√in_dim)`` (DINO's reference wraps a
    default-initialized ``nn.Linear`` in ``weight_norm``). Not a truncated normal of std 0.02: the
    gradient reaching ``v`` scales with ``1/||v||``, and the default init's larger rows (norm ≈ 0.58 vs
    0.32 at ``in_dim = 256``) give the prototypes the reference's effective learning rate.
    """

    def __init__(self, in_dim: int, out_dim: int, learn_gain: bool = False) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_dim, in_dim))
        # nn.Linear.reset_parameters for a bias-free layer: same distribution and random stream.
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))
        self.weight_g = nn.Parameter(torch.ones(out_dim), requires_grad=learn_gain)

    @property
    def weight(self) -> Tensor:
        """The effective weight ``g · v / ||v||`` (row-wise norm), ``[out_dim, in_dim]``."""
        return self.weight_g.unsqueeze(1) * F.normalize(self.weight_v, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight)


class DINOHead(nn.Module):
    """``[N, in_dim] -> [N, out_dim]``: MLP to a normalized bottleneck, then ``WeightNormLinear``.

    Args:
        in_dim: backbone feature size (384 for ViT-S).
        out_dim: number of prototypes ``K``; DINO: 65536 (Appendix, Table 9 shows larger helps); use a
            few hundred to a few thousand for small data.
        hidden_dim: MLP width, 2048.
        bottleneck_dim: bottleneck size, 256.
        num_layers: linear layers before the bottleneck, 3 (the last one maps to the bottleneck).
        norm_last_layer: fix the last layer's weight-norm gain to 1 (DINO's default True).
        use_bn: batch norm after each hidden linear layer (reference code ``use_bn_in_head``: False for
            ViTs, True for its ResNet-50 runs); it also removes the component that all inputs share,
            which helps short runs of small models leave the near-uniform start.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        num_layers: int = 3,
        norm_last_layer: bool = True,
        use_bn: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_dim", in_dim),
            ("out_dim", out_dim),
            ("hidden_dim", hidden_dim),
            ("bottleneck_dim", bottleneck_dim),
            ("num_layers", num_layers),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DINOHead {name} must be a positive int, got {value!r}")
        self.in_dim, self.out_dim = in_dim, out_dim
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers += [
                nn.Linear(dim, hidden_dim),
                *([nn.BatchNorm1d(hidden_dim)] if use_bn else []),
                nn.GELU(),
            ]
            dim = hidden_dim
        layers.append(nn.Linear(dim, bottleneck_dim))
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim, learn_gain=not norm_last_layer)

    def bottleneck(self, x: Tensor) -> Tensor:
        """The L2-normalized bottleneck ``[N, bottleneck_dim]`` (unit rows)."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"DINOHead expects pooled features [N, {self.in_dim}], got {tuple(x.shape)}; set in_dim to "
                "the backbone's num_features"
            )
        return F.normalize(self.mlp(x), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """``x [N, in_dim]`` -> logits ``[N, out_dim]`` (before any temperature)."""
        return self.last_layer(self.bottleneck(x))
