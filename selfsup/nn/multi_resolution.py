"""``forward_by_resolution``: one backbone forward per run of equally sized views (multi-crop).

Multi-crop methods (SwAV, Caron et al. 2020, §3.2; DINO) feed global and local crops of different
sides through the same backbone; crops of one side are concatenated into one batch so the backbone
runs once per resolution, not once per crop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["forward_by_resolution"]


def forward_by_resolution(backbone: Callable[[Tensor], Tensor], views: Sequence[Tensor]) -> Tensor:
    """Pooled features of every view, ``[sum_v B_v, D]`` in view order, one forward per run of equal sizes."""
    out, start = [], 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
            end += 1
        out.append(backbone(torch.cat(list(views[start:end]))))
        start = end
    return torch.cat(out)
