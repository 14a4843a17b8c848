"""Supervised baseline: the same backbones trained with cross-entropy on the class labels.

Not a self-supervised method: it is the reference the self-supervised encoders are compared
against (DINO, Caron et al. 2021, Fig. 3 / Table 6 contrast DINO's attention maps and transfer with
a supervised ViT trained on the same data). Registering it as a method lets it reuse the whole
trainer, checkpoints, export and evaluation: ``selfsup pretrain supervised --config
configs/supervised_fashion_mnist.yaml``.

Model: a linear classifier on the encoder's pooled features (the class token for a ViT with
``global_pool="token"``, as in ViT, Dosovitskiy et al. 2021, §3.1; average-pooled features for a
CNN). Views: one random resized crop + horizontal flip per image, the standard supervised recipe
(Inception crop, Szegedy et al. 2015; torchvision's ImageNet reference uses scale 0.08-1 and flip
0.5). Loss: cross-entropy on ``batch.labels``, optionally label-smoothed (DeiT, Touvron et al. 2021,
uses 0.1). Logged: ``train_acc``, the top-1 accuracy on the training views.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import normalize, random_crop_flip

__all__ = ["Supervised", "SupervisedConfig", "check_labels"]


@dataclass
class SupervisedConfig(MethodConfig):
    num_classes: int | None = None  # None: `selfsup pretrain supervised` fills it from the dataset
    crop_scale: tuple[float, float] = (0.08, 1.0)  # Inception-style crop (torchvision ImageNet reference)
    flip_p: float = 0.5
    label_smoothing: float = 0.0  # DeiT: 0.1
    view_size: int | None = None  # crop output side; None: the input size
    mean: tuple[float, ...] | None = None  # None: 0.5 per channel, as every other method here
    std: tuple[float, ...] | None = None

    def validate(self) -> None:
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"method.num_classes must be >= 2, got {self.num_classes}")
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"method.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"method.flip_p must be in [0, 1], got {self.flip_p}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"method.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.view_size is not None and self.view_size < 8:
            raise ValueError(f"method.view_size must be >= 8 or null, got {self.view_size}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("method.mean and method.std must be given together (or both null)")


def check_labels(labels: Tensor | None, num_classes: int) -> Tensor:
    """``labels`` as int64, or a clear error when the data has none or they do not fit the head."""
    if labels is None or labels.numel() == 0 or bool((labels < 0).any()):
        raise ValueError(
            "the supervised baseline needs a class label for every image, but the dataset gave none "
            "(label -1 marks unlabeled images); use a labeled dataset, e.g. data.name=fashion_mnist or "
            "data.name=folder with one sub-folder per class"
        )
    if bool((labels >= num_classes).any()):
        raise ValueError(
            f"label {int(labels.max())} does not fit method.num_classes={num_classes}; set "
            "method.num_classes to the dataset's number of classes"
        )
    return labels.long()


@register_method("supervised")
class Supervised(Method):
    """Encoder + linear classifier trained with cross-entropy; ``self.encoder`` is the backbone."""

    Config = SupervisedConfig

    def __init__(self, backbone: nn.Module, config: SupervisedConfig) -> None:
        super().__init__(backbone, config)
        self.pixel_mean, self.pixel_std = config.mean, config.std
        if config.num_classes is None:
            raise ValueError(
                "method.num_classes is not set; `selfsup pretrain supervised` sets it from the dataset, "
                "or pass method.num_classes=K"
            )
        self.head = nn.Linear(backbone.num_features, config.num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)  # timm / DeiT head init
        nn.init.zeros_(self.head.bias)

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        labels = check_labels(labels, self.config.num_classes)
        generator = view_generator(images, generator)
        size = self.config.view_size or images.shape[-1]
        x = random_crop_flip(images, size, self.config.crop_scale, self.config.flip_p, generator=generator)
        mean, std = self.normalization()
        return Batch(views=[normalize(x, mean, std)], labels=labels)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``[B, num_classes]`` for normalized images ``[B, C, H, W]``."""
        return self.head(self.encoder(x))

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        labels = check_labels(batch.labels, self.config.num_classes)
        features = self.encoder(batch.views[0])
        logits = self.head(features).float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)
        with torch.no_grad():
            accuracy = (logits.argmax(1) == labels).float().mean()
        return StepOutput(loss=loss, metrics={"train_acc": accuracy}, features=features)

    @torch.no_grad()
    def accuracy(self, x: Tensor, labels: Tensor, batch_size: int = 512) -> float:
        """Top-1 accuracy of the classifier on normalized images ``x [N, C, H, W]``."""
        was_training = self.training
        self.eval()
        try:
            correct = 0
            for s in range(0, x.shape[0], batch_size):
                pred = self(x[s : s + batch_size]).argmax(1)
                correct += int((pred == labels[s : s + batch_size].to(pred.device)).sum())
        finally:
            self.train(was_training)
        return correct / max(1, x.shape[0])
