"""RotNet (Gidaris, Singh, Komodakis 2018, "Unsupervised Representation Learning by Predicting Image
Rotations"): classify which of four rotations (0, 90, 180, 270 degrees) an image was turned by.

Every image of the batch is shown in all four rotations in one forward pass (``[4B, C, S, S]``; the
paper found this better than one random rotation per image), the encoder's pooled features go
through a classification head and the loss is 4-way cross-entropy. ``pretext_acc`` is the fraction
of rotations predicted correctly (chance 25 %). The head is a linear layer on the globally pooled
features, as RotNet's NIN / ResNet variants (global average pooling, then a linear classifier);
``head_hidden_dim > 0`` puts one hidden layer in between.

Before rotating, each image gets a random resized crop and horizontal flip (ordinary small-image
augmentation; a mirrored upright image is still upright, so the targets stay exact). Images must be
square. Evaluation uses ``method.encoder`` on the un-rotated images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.heads import ProjectionHead
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import normalize, random_resized_crop, to_float
from selfsup.views.rotation import NUM_ROTATIONS, all_rotations


@dataclass
class RotationConfig(MethodConfig):
    head_hidden_dim: int = 0  # 0: linear classifier on pooled features (RotNet NIN / ResNet heads)
    crop_scale: tuple[float, float] = (0.5, 1.0)  # area range of the random resized crop; (1, 1): none
    flip_p: float = 0.5

    def validate(self) -> None:
        if self.head_hidden_dim < 0:
            raise ValueError(
                f"method.head_hidden_dim must be >= 0 (0: linear head), got {self.head_hidden_dim}"
            )
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"method.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"method.flip_p must be in [0, 1], got {self.flip_p}")


@register_method("rotation")
class Rotation(Method):
    """4-way rotation classification; ``self.encoder`` is the backbone."""

    Config = RotationConfig

    def __init__(self, backbone: nn.Module, config: RotationConfig) -> None:
        super().__init__(backbone, config)
        width = backbone.num_features
        hidden = config.head_hidden_dim
        self.head = ProjectionHead(width, hidden or width, NUM_ROTATIONS, num_layers=2 if hidden else 1)

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        x = to_float(images)
        if self.config.crop_scale != (1.0, 1.0) or self.config.flip_p > 0:
            x = random_resized_crop(
                x, x.shape[-1], self.config.crop_scale, flip_p=self.config.flip_p, generator=generator
            )
        x = normalize(x, *self.normalization())
        views, rotations = all_rotations(x)
        return Batch(views=[views], targets={"rotation": rotations})

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        features = self.encoder(batch.views[0])  # [4B, D], all four rotations in one forward
        logits = self.head(features).float()
        target = batch.targets["rotation"]
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():
            accuracy = (logits.argmax(1) == target).float().mean()
        b = batch.views[0].shape[0] // NUM_ROTATIONS
        return StepOutput(loss=loss, metrics={"pretext_acc": accuracy}, features=features[:b])
