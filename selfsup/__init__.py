"""selfsup: self-supervised learning of visual representations under one API.

Public API::

    from selfsup import create_backbone, create_method, list_methods, load_encoder, load_run, pretrain
    from selfsup import Batch, Progress, StepOutput, InfoNCELoss, load_run_config
"""

from __future__ import annotations

from typing import Any

from selfsup.backbones import create_backbone, list_backbones
from selfsup.export import export_encoder, load_encoder
from selfsup.losses import InfoNCELoss
from selfsup.registry import create_method, list_methods, register_method
from selfsup.runs import load_run
from selfsup.types import Batch, Progress, StepOutput

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "InfoNCELoss",
    "Progress",
    "StepOutput",
    "create_backbone",
    "create_method",
    "export_encoder",
    "list_backbones",
    "list_methods",
    "load_encoder",
    "load_run",
    "load_run_config",
    "pretrain",
    "register_method",
]


def __getattr__(name: str) -> Any:
    # The trainer imports Lightning (slow); load it only when asked for.
    if name == "pretrain":
        from selfsup.train.pretrain import pretrain

        return pretrain
    if name == "load_run_config":
        from selfsup.train.config_loader import load_run_config

        return load_run_config
    raise AttributeError(f"module 'selfsup' has no attribute {name!r}")
