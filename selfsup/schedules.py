"""Schedules as pure functions of ``Progress`` (so a resumed run is exact).

``cosine(progress, start, end, warmup_steps)`` is the linear-warm-up + cosine
decay used for the learning rate by SimCLR (Chen et al. 2020, §B.1: 10 warm-up
epochs, then cosine decay without restarts, Loshchilov & Hutter 2017), and for
DINO's weight decay, teacher momentum and temperature warm-up.
"""

from __future__ import annotations

import math

from selfsup.types import Progress

# Warm-up never takes more than this share of a run. The papers warm up for 3-13 % of training: SimCLR
# 10 of 100 epochs (Chen et al. 2020, §B.1), DINO 10 of 100-300 (Caron et al. 2021), MAE 40 of 800 (He et
# al. 2022), MoCo v3 40 of 300 (Chen et al. 2021, the longest). 15 % keeps every recipe at its full length
# as written, while a run cut to a tenth of its epochs (a budget, a quick test) still decays its lr for
# 85 % of its steps instead of warming up for all of them (a 100-step run once had 99 warm-up steps).
MAX_WARMUP_FRACTION = 0.15


def warmup_cosine(progress: Progress, peak: float, final: float = 0.0, warmup_steps: int = 0) -> float:
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine from ``peak`` to ``final``.

    At ``step == total_steps`` the value is ``final``.
    """
    step, total = progress.step, progress.total_steps
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    decay_steps = max(1, total - warmup_steps)
    t = min(1.0, max(0.0, (step - warmup_steps) / decay_steps))
    return final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * t))


def capped_warmup(requested_steps: float, total_steps: int) -> int:
    """Warm-up steps of a ``total_steps`` run: ``requested_steps`` rounded, at most
    ``MAX_WARMUP_FRACTION`` of the run (rounded down; no warm-up for a run of fewer than 7 steps)."""
    return max(0, min(round(requested_steps), int(MAX_WARMUP_FRACTION * total_steps)))


def weight_decay_at(progress: Progress, start: float, final: float | None = None) -> float:
    """Weight decay at ``progress``: cosine from ``start`` to ``final`` over training, no warm-up.

    DINO (Caron et al. 2021, §3.1 / reference code): 0.04 -> 0.4 for ViTs. ``final=None`` keeps
    ``start`` constant (every other method here).
    """
    if final is None:
        return start
    return warmup_cosine(progress, start, final, warmup_steps=0)


def linear_warmup(progress: Progress, start: float, end: float, warmup_steps: int) -> float:
    """Linear ramp from ``start`` to ``end`` over ``warmup_steps``, then constant ``end``."""
    if warmup_steps <= 0 or progress.step >= warmup_steps:
        return end
    return start + (end - start) * progress.step / warmup_steps


def scaled_lr(base_lr: float, global_batch: int, rule: str = "linear") -> float:
    """Learning rate scaled with the global batch size, as SimCLR (§B.1) and Goyal et al. 2017.

    ``linear``: ``base_lr * global_batch / 256``; ``sqrt``: ``base_lr * sqrt(global_batch)``
    (SimCLR's choice for LARS at small batches); ``none``: ``base_lr``.
    """
    if rule == "linear":
        return base_lr * global_batch / 256
    if rule == "sqrt":
        return base_lr * math.sqrt(global_batch)
    if rule == "none":
        return base_lr
    raise ValueError(f"unknown lr scaling rule {rule!r}; use 'linear', 'sqrt' or 'none'")
