"""Backbones: ``create_backbone("resnet_small" | "resnet18_cifar" | "timm:<name>" | "tv:<name>")``.

Every backbone implements ``Backbone``: ``forward(x) -> [B, num_features]`` pooled features and
``forward_tokens(x) -> [B, N, token_dim]`` patch tokens, plus ``in_chans``, ``patch_size`` and a
``spec`` that rebuilds the architecture. The timm / torchvision adapters import their library
lazily (``TimmBackbone`` / ``TorchvisionBackbone`` resolve on first access).
"""

from __future__ import annotations

from typing import Any

from selfsup.backbones.base import Backbone, read_state_dict
from selfsup.backbones.factory import create_backbone, list_backbones
from selfsup.backbones.small_resnet import CifarResNet, resnet18_cifar, resnet_small

__all__ = [
    "Backbone",
    "CifarResNet",
    "TimmBackbone",
    "TorchvisionBackbone",
    "create_backbone",
    "list_backbones",
    "read_state_dict",
    "resnet18_cifar",
    "resnet_small",
]


def __getattr__(name: str) -> Any:
    if name == "TimmBackbone":
        from selfsup.backbones.timm_adapter import TimmBackbone

        return TimmBackbone
    if name == "TorchvisionBackbone":
        from selfsup.backbones.torchvision_adapter import TorchvisionBackbone

        return TorchvisionBackbone
    raise AttributeError(f"module 'selfsup.backbones' has no attribute {name!r}")
