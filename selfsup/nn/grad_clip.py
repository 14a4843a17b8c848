"""Per-parameter gradient-norm clipping, as DINO's reference implementation clips (its ``--clip_grad 3.0``).

Unlike ``torch.nn.utils.clip_grad_norm_``, which rescales all gradients by one factor so that their
*global* norm is at most ``max_norm``, every parameter's gradient is rescaled on its own: ``g ← g ·
min(1, max_norm / (‖g‖ + 1e-6))``. A parameter with a small gradient is left alone however large the
others are. Branch-free, so it also runs on sharded (DTensor) gradients under FSDP, where the norm of a
sharded gradient is its full norm.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def clip_grad_norm_per_parameter_(
    parameters: Iterable[nn.Parameter], max_norm: float, eps: float = 1e-6
) -> None:
    """In place: each ``p.grad`` scaled so that its L2 norm is at most ``max_norm`` (gradient-less ones skipped)."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0 (DINO: 3.0), got {max_norm}")
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(torch.clamp(max_norm / (p.grad.norm() + eps), max=1.0))
