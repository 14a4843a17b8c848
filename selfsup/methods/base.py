"""The ``Method`` contract every self-supervised method implements.

A method is a plain ``nn.Module`` (never a ``LightningModule``) built from a
backbone and its own dataclass ``Config``:

- ``make_batch(images, labels, generator) -> Batch`` turns a uint8
  batch ``[B, C, H, W]`` (already on the training device) into views and
  pretext targets, in batch, with all randomness drawn from ``generator``.
  It returns only what the method decides (views, targets); ``labels`` (the
  dataset's second item) is read only by methods whose targets come from it
  (CLIP's caption tokens, supervised class labels). The trainer's
  ``selfsup.train.step.attach_inputs`` then sets images, indices and labels.
- ``training_step(batch, progress) -> StepOutput`` computes the loss.
- ``after_backward`` / ``after_optimizer_step`` hold updates that must happen
  outside autograd (EMA teachers, queues, centers, frozen-layer gradients).
- ``encoder`` is the backbone that evaluation and export receive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from selfsup.types import Batch, Progress, StepOutput
from selfsup.views.ops import channel_stats


def view_generator(images: Tensor, generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or one seeded with 0 on the images' device: ``make_batch`` without a generator is
    deterministic (the trainer always passes one, seeded per micro-batch and rank)."""
    return generator if generator is not None else torch.Generator(device=images.device).manual_seed(0)


@dataclass
class MethodConfig:
    """Base of every method's config dataclass (methods add their own fields)."""


class Method(nn.Module):
    """Base class; subclasses set ``Config`` and implement ``make_batch`` and ``training_step``."""

    name: ClassVar[str] = "method"
    Config: ClassVar[type] = MethodConfig
    # Smallest batch (per micro-batch, over all ranks) the loss is defined for; contrastive
    # losses need at least 2 images so that each has a negative.
    min_batch_size: ClassVar[int] = 1

    def __init__(self, backbone: nn.Module, config: Any) -> None:
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{type(self).__name__} expects a {self.Config.__name__}, got {type(config).__name__}"
            )
        if hasattr(config, "validate"):
            config.validate()  # every method's config is checked here, before the method builds anything
        self.encoder = backbone
        self.config = config
        # The one declaration of the method's input normalization: per-channel mean / std of [0, 1]
        # pixels (one value = every channel; None = 0.5, which maps [0, 1] to [-1, 1]). Methods set them
        # from their config (a view recipe's mean/std); evaluation and exports normalize the same way.
        self.pixel_mean: tuple[float, ...] | float | None = None
        self.pixel_std: tuple[float, ...] | float | None = None

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        raise NotImplementedError

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        raise NotImplementedError

    def after_backward(self, progress: Progress) -> None:
        """Called after ``loss.backward()`` and before the optimizer step."""

    def after_optimizer_step(self, progress: Progress) -> None:
        """Called after each optimizer step (EMA, queue and center updates go here)."""

    def normalization(self) -> tuple[list[float], list[float]]:
        """Per-channel (mean, std) of ``pixel_mean`` / ``pixel_std`` for the encoder's input channels:
        what the views were normalized with, and what evaluation, exports and the input spec use."""
        mean, std = channel_stats(self.pixel_mean, self.pixel_std, int(self.encoder.in_chans))
        return list(mean), list(std)

    def extra_state(self) -> dict[str, Any]:
        """JSON-able facts saved beside an exported encoder (e.g. a permutation set)."""
        return {}

    def param_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Trainable parameters split into decayed and non-decayed groups.

        Biases and normalization parameters (every tensor with ``ndim <= 1``) get no
        weight decay and are excluded from LARS adaptation, as in SimCLR (Chen et al.
        2020, §B.1) and BYOL; everything else decays with ``weight_decay``.
        """
        decay, no_decay = [], []
        for _, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
            {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True},
        ]
        return [g for g in groups if g["params"]]
