"""SimCLR (Chen, Kornblith, Norouzi, Hinton 2020): two augmented views, projection MLP, NT-Xent.

Both views go through the encoder in one forward pass (``[2B, C, H, W]``), the
projection head maps pooled features ``[2B, D]`` to ``[2B, out_dim]`` and the
InfoNCE / NT-Xent loss treats the other view of the same image as the positive
and the other ``2B - 2`` embeddings (of the global batch, across ranks) as
negatives. Evaluation uses the encoder's pooled features (before the head),
which transfer better than the head's output (§4.2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from selfsup.losses import InfoNCELoss
from selfsup.methods.base import Method, MethodConfig
from selfsup.nn.heads import ProjectionHead
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import TwoViewGenerator, ViewRecipe
from selfsup.views.sized import ViewsBySize


@dataclass
class SimCLRConfig(MethodConfig):
    temperature: float = 0.5  # τ = 0.5 for CIFAR-10 (§B.9); 0.1 at ImageNet scale (Table 5)
    proj_hidden_dim: int | None = None  # None: the encoder width, as in the paper
    proj_out_dim: int = 128  # §B.9 / Fig. 8: 128-d output
    proj_layers: int = 2  # SimCLR v1: one hidden layer (v2 uses 3)
    view_size: int | None = None  # crop output size; None: the input size
    views: ViewRecipe = field(default_factory=ViewRecipe)

    def validate(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"method.temperature must be > 0, got {self.temperature}")
        if self.proj_out_dim < 1 or self.proj_layers < 1:
            raise ValueError("method.proj_out_dim and method.proj_layers must be >= 1")


@register_method("simclr")
class SimCLR(Method):
    """Contrastive learning of visual representations from two views per image."""

    Config = SimCLRConfig
    min_batch_size = 2  # each image needs at least one other image as a negative

    def __init__(self, backbone: nn.Module, config: SimCLRConfig) -> None:
        super().__init__(backbone, config)
        width = backbone.num_features
        self.head = ProjectionHead(
            width,
            hidden_dim=config.proj_hidden_dim or width,
            out_dim=config.proj_out_dim,
            num_layers=config.proj_layers,
        )
        self.loss_fn = InfoNCELoss(temperature=config.temperature)
        self.pixel_mean, self.pixel_std = config.views.mean, config.views.std
        self.make_views = ViewsBySize(
            lambda size: TwoViewGenerator(dataclasses.replace(config.views, size=size)), config.view_size
        )

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        views = self.make_views(images, generator)
        return Batch(views=views)

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        b = batch.batch_size
        features = self.encoder(torch.cat(batch.views[:2]))  # one forward over both views
        z = self.head(features).float()
        loss, accuracy = self.loss_fn.forward_with_accuracy(z[:b], z[b:])
        with torch.no_grad():
            z_std = nn.functional.normalize(z[:b], dim=1).std(dim=0).mean()
        return StepOutput(
            loss=loss,
            metrics={"contrastive_acc": accuracy, "z_std": z_std},
            features=features[:b],
        )
