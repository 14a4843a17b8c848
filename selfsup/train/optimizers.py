"""Optimizer construction from a method's parameter groups and ``OptimConfig``."""

from __future__ import annotations

import torch

from selfsup.methods.base import Method
from selfsup.train.config import OptimConfig
from selfsup.train.lars import LARS


def build_optimizer(method: Method, cfg: OptimConfig, lr: float) -> torch.optim.Optimizer:
    """SGD (momentum), AdamW or LARS over ``method.param_groups``; lr is set per step by the schedule."""
    groups = method.param_groups(cfg.weight_decay)
    # Fused CUDA kernels: one launch for all parameters instead of a foreach loop (GPU path only).
    fused = {"fused": True} if all(p.is_cuda for g in groups for p in g["params"]) and groups else {}
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, weight_decay=cfg.weight_decay, **fused)
    if cfg.name == "lars":
        return LARS(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"optim.name must be one of sgd, adamw, lars; got {cfg.name!r}")
