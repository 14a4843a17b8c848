"""The method a run's config describes, and the input it is fed: ``build_method`` / ``input_spec``.

The trainer, ``selfsup bench`` and ``selfsup.runs`` (which loads a run back) all build a run's method
here, so a checkpoint's weights fit the module they are loaded into.
"""

from __future__ import annotations

from selfsup.backbones import create_backbone
from selfsup.methods.base import Method
from selfsup.registry import create_method
from selfsup.train.config import RunConfig
from selfsup.types import InputSpec


def build_method(cfg: RunConfig, channels: int, image_size: int) -> Method:
    """``cfg``'s method around its backbone (random init) for ``channels``-channel ``image_size`` images."""
    backbone = create_backbone(cfg.backbone, in_chans=channels, image_size=image_size, **cfg.backbone_kwargs)
    return create_method(cfg.method_name, backbone, cfg.method)


def input_spec(method: Method, cfg: RunConfig, image_size: int) -> InputSpec:
    """What the run's encoder is fed: size, channels, the views' normalization, the training data."""
    mean, std = method.normalization()
    return InputSpec(
        image_size=int(image_size),
        channels=int(method.encoder.in_chans),
        mean=None if mean is None else tuple(mean),
        std=None if std is None else tuple(std),
        dataset=cfg.data.name,
        root=cfg.data.root,
    )
