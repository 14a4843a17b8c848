"""LARS: layer-wise adaptive rate scaling (You, Gitman, Ginsburg 2017), as SimCLR uses it.

For every parameter tensor ``w`` with gradient ``g`` (a "layer") in a group with ``lars_exclude=False``::

    trust = η · ‖w‖ / (‖g‖ + β‖w‖ + ε)      (1 when ‖w‖ = 0 or ‖g‖ = 0)
    v     ← m · v + lr · trust · (g + β w)
    w     ← w - v

(η = ``trust_coefficient``, β = ``weight_decay``, m = ``momentum``; You et al. 2017, Algorithm 1 — the
learning rate sits inside the momentum buffer, as in their algorithm and SimCLR's implementation).
Groups with ``lars_exclude=True`` (biases and norm parameters, SimCLR §B.1) skip both the adaptation and
the weight decay and take plain SGD-with-momentum steps ``v ← m v + lr g; w ← w - v``, which is
``torch.optim.SGD(momentum=m)`` while the lr is constant. Callers build the groups (see
``Method.param_groups``); a group without the key is adapted.

Defaults follow SimCLR (Chen et al. 2020, §B.1): momentum 0.9, weight decay 1e-6, η = 0.001; their lr is
``0.3 × batch_size / 256`` (or ``0.075 × sqrt(batch_size)``), set by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


class LARS(torch.optim.Optimizer):
    """LARS with momentum; honours a per-group ``lars_exclude`` flag (module docstring has the update).

    Args:
        params: parameters or param groups (dicts may set ``lr``, ``momentum``, ``weight_decay``,
            ``trust_coefficient``, ``eps`` and ``lars_exclude``).
        lr: base learning rate (SimCLR: 0.3 × batch/256).
        momentum: 0.9 (SimCLR).
        weight_decay: β, 1e-6 (SimCLR); applied to adapted groups only.
        trust_coefficient: η, 0.001 (You et al. 2017; SimCLR).
        eps: added to the trust-ratio denominator for numerical safety.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        trust_coefficient: float = 0.001,
        eps: float = 1e-8,
    ) -> None:
        _check("lr", lr, lower=0.0)
        _check("momentum", momentum, lower=0.0, upper=1.0)
        _check("weight_decay", weight_decay, lower=0.0)
        _check("trust_coefficient", trust_coefficient, lower=0.0, strict=True)
        _check("eps", eps, lower=0.0)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            eps=eps,
            lars_exclude=False,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            exclude = bool(group.get("lars_exclude", False))
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("LARS does not support sparse gradients")
                g = p.grad
                if not exclude:
                    # Norms stay on the device (no .item()): torch.where picks the fallback ratio of 1.
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(g)
                    ratio = group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm + group["eps"])
                    ratio = torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))
                    g = (g + p * wd if wd != 0 else g) * ratio
                update = g * lr
                state = self.state[p]
                if momentum != 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = update.clone()
                    else:
                        buf.mul_(momentum).add_(update)
                    update = buf
                p.sub_(update)
        return loss


def _check(name: str, value: float, lower: float, upper: float | None = None, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > lower if strict else value >= lower) and (upper is None or value < upper)
    if not ok:
        bound = f"> {lower}" if strict else f">= {lower}"
        if upper is not None:
            bound += f" and < {upper}"
        raise ValueError(f"LARS {name} must be a number {bound}, got {value!r}")
