"""MoCo v3 (Chen, Xie, He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers").

Two views of each image go through the query branch — backbone, projector, predictor — and through a
momentum copy of backbone + projector (no predictor). Keys come from the batch itself (no queue): the
loss for queries ``q`` of one view and keys ``k`` of the other is

    ctr(q, k) = 2τ · CE( q @ k_allᵀ / τ, labels = own index ),   q, k unit vectors,

with ``k_all`` the keys of every rank (gathered without gradient); the total is the symmetric
``ctr(q1, k2) + ctr(q2, k1)`` (Algorithm 1; the ``2τ`` factor makes the loss scale insensitive to τ).
The momentum ``m`` starts at 0.99 and rises to 1 along a cosine (§4, "Momentum encoder").

Each view goes through the query and the momentum networks in its own forward, so every batch norm
normalizes one view with that view's statistics (official ``moco/builder.py``, ``MoCo.forward``:
``base_encoder(x1)`` and ``base_encoder(x2)`` are separate calls); one forward over both views would
mix their statistics and change the loss.

Defaults are the paper's and the official code's: projector 3 layers (ViT; the ResNet reference uses
2), predictor 2 layers, hidden 4096, output 256; every linear layer bias-free, batch norm after every
hidden layer, and an affine-free batch norm on the output of the projector (ViT and ResNet) and of the
predictor for ViT only (``_build_mlp(..., last_bn=False)`` for the ResNet predictor), which
``pred_last_bn: null`` picks from the backbone. τ = 0.2 for ViT (the reference code's default is 1.0
for ResNet-50). ``freeze_patch_embed`` is the stability trick of §4.2: a ViT's patch projection stays
at its random init.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig
from selfsup.nn.distributed import all_gather_no_grad, get_rank
from selfsup.nn.ema import cosine_momentum, ema_update_, momentum_copy
from selfsup.nn.heads import ProjectionHead
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import TwoViewGenerator, ViewRecipe
from selfsup.views.sized import ViewsBySize

# BYOL's asymmetric augmentations, which MoCo v3 adopts (§4; BYOL, Grill et al. 2020, Table 6):
# view 1 always blurred, view 2 blurred with p 0.1 and solarized with p 0.2; jitter 0.4/0.4/0.2/0.1.
_BYOL_BASE = ViewRecipe(crop_scale=(0.08, 1.0), jitter_strength=0.5)


def byol_recipes(base: ViewRecipe) -> tuple[ViewRecipe, ViewRecipe]:
    """The two asymmetric recipes built from ``base`` (blur 1.0 / 0.1, solarize 0 / 0.2)."""
    return (
        dataclasses.replace(base, blur_p=1.0, solarize_p=0.0),
        dataclasses.replace(base, blur_p=0.1, solarize_p=0.2),
    )


@dataclass
class MoCoV3Config(MethodConfig):
    temperature: float = 0.2  # τ = 0.2 for ViT (reference code: 1.0 for ResNet-50)
    momentum: float = 0.99  # base momentum, raised to 1 by a cosine (§4)
    momentum_schedule: str = "cosine"  # cosine | constant
    proj_layers: int = 3  # ViT: 3 (ResNet reference: 2)
    proj_hidden_dim: int = 4096
    pred_layers: int = 2
    pred_hidden_dim: int = 4096
    out_dim: int = 256
    # Affine-free BN on the predictor output; None: as the reference for the backbone (ViT: yes,
    # CNN: no; official moco/builder.py, MoCo_ViT / MoCo_ResNet).
    pred_last_bn: bool | None = None
    freeze_patch_embed: bool = False  # §4.2: random fixed patch projection stabilises ViT training
    asymmetric_views: bool = True  # BYOL's blur / solarize asymmetry; False: both views use `views`
    view_size: int | None = None
    views: ViewRecipe = dataclasses.field(default_factory=lambda: _BYOL_BASE)

    def validate(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"method.temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"method.momentum must be in [0, 1] (MoCo v3: 0.99), got {self.momentum}")
        if self.momentum_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"method.momentum_schedule must be 'constant' or 'cosine', got {self.momentum_schedule!r}"
            )
        for name in ("proj_layers", "proj_hidden_dim", "pred_layers", "pred_hidden_dim", "out_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"method.{name} must be >= 1, got {getattr(self, name)}")


def contrastive_loss(q: Tensor, k: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """MoCo v3's ``ctr(q, k)``: ``2τ · CE(q·k_allᵀ/τ, own index)`` and the top-1 accuracy.

    ``q [B, D]`` (with gradient) and ``k [B, D]`` (keys; detached) are normalised here; ``k`` is gathered
    from every rank, and this rank's positives sit at columns ``rank · B + i``.
    """
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.detach().float(), dim=1)
    k_all = all_gather_no_grad(k)
    logits = q @ k_all.T / temperature  # [B, W B]
    labels = torch.arange(q.shape[0], device=q.device) + get_rank() * q.shape[0]
    loss = F.cross_entropy(logits, labels) * (2 * temperature)
    accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
    return loss, accuracy


def _find_patch_embed(encoder: nn.Module) -> nn.Module | None:
    for name, module in encoder.named_modules():
        if name == "patch_embed" or name.endswith(".patch_embed"):
            return module
    return None


@register_method("mocov3")
class MoCoV3(Method):
    """MoCo v3: query backbone + projector + predictor, momentum backbone + projector, symmetric loss."""

    Config = MoCoV3Config

    def __init__(self, backbone: nn.Module, config: MoCoV3Config) -> None:
        super().__init__(backbone, config)
        if config.freeze_patch_embed:
            patch_embed = _find_patch_embed(backbone)
            if patch_embed is None:
                raise ValueError(
                    "method.freeze_patch_embed needs a ViT backbone with a patch_embed module (e.g. "
                    "timm:vit_small_patch16_224); set it to false for CNN backbones"
                )
            for p in patch_embed.parameters():
                p.requires_grad_(False)
        width = backbone.num_features
        self.projector = ProjectionHead(
            width, config.proj_hidden_dim, config.out_dim, num_layers=config.proj_layers, last_bn=True
        )
        pred_last_bn = config.pred_last_bn
        if pred_last_bn is None:
            pred_last_bn = _find_patch_embed(backbone) is not None
        self.predictor = ProjectionHead(
            config.out_dim,
            config.pred_hidden_dim,
            config.out_dim,
            num_layers=config.pred_layers,
            last_bn=pred_last_bn,
            last_bias=False,
        )
        self.momentum_encoder = momentum_copy(backbone)
        self.momentum_projector = momentum_copy(self.projector)
        self.pixel_mean, self.pixel_std = config.views.mean, config.views.std
        self.make_views = ViewsBySize(self._build_views, config.view_size)

    def _build_views(self, size: int) -> TwoViewGenerator:
        base = dataclasses.replace(self.config.views, size=size)
        if self.config.asymmetric_views:
            return TwoViewGenerator(byol_recipes(base))
        return TwoViewGenerator(base, n_views=2)

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        views = self.make_views(images, generator)
        return Batch(views=views)

    def momentum_at(self, progress: Progress) -> float:
        if self.config.momentum_schedule == "cosine":
            return cosine_momentum(progress, self.config.momentum)
        return self.config.momentum

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        x1, x2 = batch.views[0], batch.views[1]
        # One forward per view (not one over both): batch-norm statistics stay per view, as in the
        # reference's `base_encoder(x1)`, `base_encoder(x2)`.
        f1, f2 = self.encoder(x1), self.encoder(x2)
        q1, q2 = self.predictor(self.projector(f1)), self.predictor(self.projector(f2))
        with torch.no_grad():
            k1 = self.momentum_projector(self.momentum_encoder(x1))
            k2 = self.momentum_projector(self.momentum_encoder(x2))
        loss1, acc1 = contrastive_loss(q1, k2, self.config.temperature)
        loss2, acc2 = contrastive_loss(q2, k1, self.config.temperature)
        return StepOutput(
            loss=loss1 + loss2,
            metrics={"contrastive_acc": (acc1 + acc2) / 2, "momentum": self.momentum_at(progress)},
            features=f1,
        )

    def after_optimizer_step(self, progress: Progress) -> None:
        m = self.momentum_at(progress)
        ema_update_(self.momentum_encoder, self.encoder, m)
        ema_update_(self.momentum_projector, self.projector, m)
