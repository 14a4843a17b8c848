"""SimCLR (Chen, Kornblith, Norouzi, Hinton 2020): two augmented views, projection MLP, NT-Xent.

Both views go through the encoder in one forward pass (``[2B, C, H, W]``), the
projection head maps pooled features ``[2B, D]`` to ``[2B, out_dim]`` and the
InfoNCE / NT-Xent loss treats the other view of the same image as the positive
and the other ``2B - 2`` embeddings (of the global batch, across ranks) as
negatives. Evaluation uses the encoder's pooled features (before the head),
which transfer better than the head's output (§4.2).

Multi-crop (``n_local_crops > 0``; SwAV, Caron et al. 2020, §3.2): each image also gets
``n_local_crops`` small, low-resolution crops (``local_scale`` of the area, ``local_size`` px) made with
the same recipe. Crops of one resolution share a forward (``[2B]`` globals, ``[N·B]`` locals), and the
loss becomes the multi-positive InfoNCE over all ``(2 + N)·B`` embeddings: every other crop of the same
image is a positive, every crop of another image a negative (``InfoNCELoss``'s multi-view form).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from selfsup.losses import InfoNCELoss
from selfsup.methods.base import Method, MethodConfig
from selfsup.nn.heads import ProjectionHead
from selfsup.nn.multi_resolution import forward_by_resolution
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import TwoViewGenerator, ViewRecipe
from selfsup.views.multi_crop import MultiCropGenerator
from selfsup.views.ops import check_range
from selfsup.views.sized import ViewsBySize


@dataclass
class SimCLRConfig(MethodConfig):
    temperature: float = 0.5  # τ = 0.5 for CIFAR-10 (§B.9); 0.1 at ImageNet scale (Table 5)
    proj_hidden_dim: int | None = None  # None: the encoder width, as in the paper
    proj_out_dim: int = 128  # §B.9 / Fig. 8: 128-d output
    proj_layers: int = 2  # SimCLR v1: one hidden layer (v2 uses 3)
    view_size: int | None = None  # crop output size; None: the input size
    views: ViewRecipe = field(default_factory=ViewRecipe)
    n_local_crops: int = 0  # SimCLR uses two views; SwAV's multi-crop adds 6 (§3.2, 2x224 + 6x96 px)
    local_size: int | None = None  # None: the view size · 96/224 (28 -> 12), DINO's and SwAV's ratio
    local_scale: tuple[float, float] = (0.05, 0.4)  # area fraction of a local crop (DINO's default)

    def validate(self) -> None:
        if (
            isinstance(self.n_local_crops, bool)
            or not isinstance(self.n_local_crops, int)
            or self.n_local_crops < 0
        ):
            raise ValueError(
                f"method.n_local_crops must be an int >= 0 (SimCLR: 0), got {self.n_local_crops!r}"
            )
        if self.local_size is not None and (
            isinstance(self.local_size, bool) or not isinstance(self.local_size, int) or self.local_size < 1
        ):
            raise ValueError(f"method.local_size must be a positive int or null, got {self.local_size!r}")
        check_range(tuple(self.local_scale), "method.local_scale", low=0.0, high=1.0)
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
        self.make_views = ViewsBySize(self._build_views, config.view_size)

    def _build_views(self, size: int) -> TwoViewGenerator | MultiCropGenerator:
        c = self.config
        if c.n_local_crops == 0:
            return TwoViewGenerator(dataclasses.replace(c.views, size=size))
        return MultiCropGenerator(
            c.views,
            global_size=size,
            local_size=c.local_size,
            n_local=c.n_local_crops,
            global_scale=c.views.crop_scale,
            local_scale=c.local_scale,
            global_blur_p=(c.views.blur_p, c.views.blur_p),
            local_blur_p=c.views.blur_p,
            global_solarize_p=(c.views.solarize_p, c.views.solarize_p),
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
        features = forward_by_resolution(self.encoder, batch.views)  # one forward per crop size
        z = self.head(features).float()
        # Two views are InfoNCE's two-view form; more crops its multi-positive form (same call).
        loss, accuracy = self.loss_fn.forward_with_accuracy(list(z.split(b)))
        with torch.no_grad():
            z_std = nn.functional.normalize(z[:b], dim=1).std(dim=0).mean()
        return StepOutput(
            loss=loss,
            metrics={"contrastive_acc": accuracy, "z_std": z_std},
            features=features[:b],
        )
