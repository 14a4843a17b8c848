"""Momentum (EMA) encoders: ``target ← m·target + (1 − m)·online``, outside autograd.

MoCo (He et al. 2019, eq. 2) keeps a key encoder that is a slowly moving average of the query
encoder, ``θ_k ← m θ_k + (1 − m) θ_q`` with ``m = 0.999``; BYOL (Grill et al. 2020, §3.1) and DINO
(Caron et al. 2021, §3.1) do the same for their target / teacher network and raise ``m`` to 1 along
a cosine schedule (:func:`cosine_momentum`). MoCo v3 (Chen, Xie, He 2021, §4) uses that schedule too,
starting from ``m = 0.99``.

The copy is a deterministic target: its dropout and drop-path probabilities are set to 0
(:func:`selfsup.nn.dropout.disable_dropout_`), as DINO's reference builds its teacher without the
student's ``drop_path_rate``; it stays in train mode otherwise.

Only parameters are averaged. Buffers (batch-norm running statistics) are left alone by default:
the momentum encoder computes its own statistics from the batches it sees in train mode, as in
MoCo's reference setup; ``copy_buffers=True`` copies them from the online network instead.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from selfsup.nn.dropout import disable_dropout_
from selfsup.types import Progress


def momentum_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with every parameter frozen and no dropout or drop path.

    Frozen parameters are left out of ``Method.param_groups`` and so of the optimizer; the copy starts
    equal to ``module`` (MoCo Algorithm 1: ``f_k.params = f_q.params``). Its stochastic layers get
    probability 0, so two forwards of the same input give the same targets even in train mode (DINO's
    teacher has no drop path; official ``main_dino.py``); batch norm keeps batch statistics in train
    mode, as the momentum networks of DINO and MoCo v1-v3 do.
    """
    target = copy.deepcopy(module)
    disable_dropout_(target)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, momentum: float, copy_buffers: bool = False) -> None:
    """In place: ``p_t ← m·p_t + (1 − m)·p_o`` for every parameter pair (same order and shapes).

    ``momentum = 1`` leaves ``target`` unchanged, ``0`` copies ``online``. Runs without autograd, so no
    gradient ever reaches ``target`` through this update.
    """
    if isinstance(momentum, bool) or not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"momentum must be in [0, 1] (MoCo: 0.999), got {momentum!r}")
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError(
            f"target has {len(t_params)} parameters but online has {len(o_params)}; the momentum "
            "encoder must be a copy of the online network (see momentum_copy)"
        )
    for i, (t, o) in enumerate(zip(t_params, o_params, strict=True)):
        if t.shape != o.shape:
            raise ValueError(f"parameter {i}: target {tuple(t.shape)} vs online {tuple(o.shape)}")
    m = float(momentum)
    if t_params:
        # Two fused multi-tensor passes, literally m·t then + (1 − m)·o.
        torch._foreach_mul_(t_params, m)
        torch._foreach_add_(t_params, [o.detach() for o in o_params], alpha=1.0 - m)
    if copy_buffers:
        for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
            tb.copy_(ob)


def cosine_momentum(progress: Progress, base: float, final: float = 1.0) -> float:
    """Momentum raised from ``base`` to ``final`` along a half cosine over training.

    BYOL (Grill et al. 2020, §3.2): ``m = 1 − (1 − m_base)(cos(π k / K) + 1) / 2``; DINO uses
    ``0.996 → 1`` and MoCo v3 ``0.99 → 1``. A pure function of ``progress``, so resume is exact.
    """
    t = progress.fraction
    return final - (final - base) * (math.cos(math.pi * t) + 1.0) / 2.0
