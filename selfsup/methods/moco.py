"""MoCo v1 / v2: momentum contrast with a queue of negative keys.

MoCo (He, Fan, Wu, Xie, Girshick 2019, "Momentum Contrast for Unsupervised Visual Representation
Learning") scores a query ``q = f_q(x_q)`` against its positive key ``k+ = f_k(x_k)`` (another view of
the same image) and ``K`` negative keys kept in a FIFO queue (:class:`selfsup.nn.queue.KeyQueue`)::

    ℓ = −log( exp(q·k+ / τ) / (exp(q·k+ / τ) + Σ_{k ∈ queue} exp(q·k / τ)) ),   q, k unit vectors,

i.e. cross-entropy of ``[B, 1 + K]`` logits with label 0. The key encoder ``f_k`` is a momentum copy of
the query encoder, ``θ_k ← m θ_k + (1 − m) θ_q`` (eq. 2, m = 0.999), updated after every optimizer step
(:func:`selfsup.nn.ema.ema_update_`); it gets no gradient and is not in the optimizer. The keys of each
batch (gathered from all ranks) are enqueued after the step, the oldest keys dropped. Shuffling BN
(§3.3, :mod:`selfsup.nn.shuffle_bn`) keeps the key encoder's batch statistics from leaking the positive.

``version: 1`` is MoCo (linear 128-d head, τ = 0.07, jitter always on, no blur); ``version: 2`` is
MoCo v2 (Chen, Fan, Girshick, He 2020, "Improved Baselines with Momentum Contrastive Learning"): a
2-layer MLP head (fc-ReLU-fc, hidden 2048 for ResNet-50), τ = 0.2 and SimCLR's blur; fields left at
``None`` take the version's value. ``method.encoder`` (the query backbone) is what evaluation receives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.distributed import get_world_size
from selfsup.nn.ema import cosine_momentum, ema_update_, momentum_copy
from selfsup.nn.heads import ProjectionHead
from selfsup.nn.queue import KeyQueue
from selfsup.nn.shuffle_bn import random_permutation, shuffled_forward, shuffled_forward_distributed
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import TwoViewGenerator, ViewRecipe
from selfsup.views.sized import ViewsBySize

# MoCo v1 (§4, "Training"): random resized crop (the paper's 224 px crops from scale 0.2 in the
# reference code), colour jitter, grayscale, flip. Its jitter is 0.4 for all four of brightness,
# contrast, saturation and hue; ViewRecipe ties hue to 0.25 × brightness, so s = 0.5 gives 0.4 / 0.4 /
# 0.4 / 0.1 — v2's values — applied always (jitter_p = 1) as in v1.
MOCO_V1_VIEWS = ViewRecipe(crop_scale=(0.2, 1.0), jitter_strength=0.5, jitter_p=1.0, blur_p=0.0)
# MoCo v2 (§2 and the reference code): crop scale 0.2-1, jitter 0.4/0.4/0.4/0.1 with p 0.8,
# grayscale p 0.2, SimCLR's Gaussian blur σ ∈ [0.1, 2] with p 0.5, flip.
MOCO_V2_VIEWS = ViewRecipe(crop_scale=(0.2, 1.0), jitter_strength=0.5, jitter_p=0.8, blur_p=0.5)


@dataclass
class MoCoConfig(MethodConfig):
    version: int = 2  # 1: MoCo (He et al. 2019); 2: MoCo v2 (Chen et al. 2020)
    temperature: float | None = None  # None: 0.07 for v1 (§3.1), 0.2 for v2 (Table 1)
    queue_size: int = 65536  # K = 65,536 (§4.1); keep it below the number of training images
    momentum: float = 0.999  # m = 0.999 (§4.1, Table 4: 0.99-0.9999 work, 0 collapses)
    momentum_schedule: str = "constant"  # constant | cosine (raise m to 1 as BYOL; optional)
    proj_out_dim: int = 128  # 128-d keys (§3.3)
    proj_hidden_dim: int | None = None  # v2 MLP hidden width; None: the encoder width (2048 for R50)
    mlp_head: bool | None = None  # None: False for v1 (linear fc), True for v2 (fc-ReLU-fc)
    shuffle_bn: bool = True  # §3.3; turn off when train.sync_batchnorm is on (SyncBN already mixes)
    shuffle_bn_groups: int = 8  # one device: 8 key groups, as MoCo's 8 GPUs; must divide the batch
    view_size: int | None = None  # crop output size; None: the input size
    views: ViewRecipe | None = None  # None: the version's recipe (MOCO_V1_VIEWS / MOCO_V2_VIEWS)

    def validate(self) -> None:
        if self.version not in (1, 2):
            raise ValueError(f"method.version must be 1 or 2, got {self.version!r}")
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"method.temperature must be > 0, got {self.temperature}")
        if self.queue_size < 1:
            raise ValueError(f"method.queue_size must be >= 1, got {self.queue_size}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"method.momentum must be in [0, 1] (MoCo: 0.999), got {self.momentum}")
        if self.momentum_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"method.momentum_schedule must be 'constant' or 'cosine', got {self.momentum_schedule!r}"
            )
        if self.proj_out_dim < 1 or (self.proj_hidden_dim is not None and self.proj_hidden_dim < 1):
            raise ValueError("method.proj_out_dim and method.proj_hidden_dim must be >= 1")
        if self.shuffle_bn_groups < 1:
            raise ValueError(f"method.shuffle_bn_groups must be >= 1, got {self.shuffle_bn_groups}")

    @property
    def tau(self) -> float:
        """The temperature in use: ``temperature`` or the version's default."""
        if self.temperature is not None:
            return self.temperature
        return 0.07 if self.version == 1 else 0.2

    @property
    def use_mlp(self) -> bool:
        return self.mlp_head if self.mlp_head is not None else self.version == 2

    @property
    def recipe(self) -> ViewRecipe:
        if self.views is not None:
            return self.views
        return MOCO_V1_VIEWS if self.version == 1 else MOCO_V2_VIEWS


@register_method("moco")
class MoCo(Method):
    """Momentum contrast (v1 / v2): query encoder + head, momentum key encoder + head, key queue."""

    Config = MoCoConfig

    def __init__(self, backbone: nn.Module, config: MoCoConfig) -> None:
        super().__init__(backbone, config)
        width = backbone.num_features
        if config.use_mlp:  # v2: fc-ReLU-fc without batch norm (Chen et al. 2020, §2)
            hidden = config.proj_hidden_dim or width
            self.head = ProjectionHead(width, hidden, config.proj_out_dim, num_layers=2, batch_norm=False)
        else:  # v1: the encoder's fc layer with a 128-d output
            self.head = ProjectionHead(width, width, config.proj_out_dim, num_layers=1, batch_norm=False)
        self.momentum_encoder = momentum_copy(backbone)
        self.momentum_head = momentum_copy(self.head)
        self.queue = KeyQueue(config.queue_size, config.proj_out_dim)
        self._pending: list[Tensor] = []  # keys of this step, enqueued after the optimizer step
        self.pixel_mean, self.pixel_std = config.recipe.mean, config.recipe.std
        self.make_views = ViewsBySize(
            lambda size: TwoViewGenerator(dataclasses.replace(config.recipe, size=size)), config.view_size
        )

    # -- views -------------------------------------------------------------------------------

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        views = self.make_views(images, generator)
        targets = {}
        if self.config.shuffle_bn:
            # Drawn here, from the batch's generator, so a resumed run shuffles exactly as before.
            n = images.shape[0] * get_world_size()
            targets["key_perm"] = random_permutation(n, generator, images.device)
        return Batch(views=views, targets=targets)

    # -- step --------------------------------------------------------------------------------
    def _key_fn(self, x: Tensor) -> Tensor:
        return F.normalize(self.momentum_head(self.momentum_encoder(x)).float(), dim=1)

    @torch.no_grad()
    def keys(self, x: Tensor, perm: Tensor | None = None) -> Tensor:
        """Unit keys ``[B, proj_out_dim]`` of views ``x`` from the momentum encoder (shuffled BN if ``perm``)."""
        if perm is None:
            return self._key_fn(x)
        if get_world_size() > 1:
            return shuffled_forward_distributed(self._key_fn, x, perm)
        groups = self.config.shuffle_bn_groups
        if x.shape[0] % groups:
            raise ValueError(
                f"method.shuffle_bn_groups={groups} must divide the batch size {x.shape[0]}; "
                "change one of them (or set method.shuffle_bn=false)"
            )
        return shuffled_forward(self._key_fn, x, groups, perm)

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        x_q, x_k = batch.views[0], batch.views[1]
        features = self.encoder(x_q)
        q = F.normalize(self.head(features).float(), dim=1)  # [B, C]
        k = self.keys(x_k, batch.targets.get("key_perm"))  # [B, C], no grad
        l_pos = (q * k).sum(dim=1, keepdim=True)  # [B, 1]
        l_neg = q @ self.queue.keys.T.to(q.dtype)  # [B, K]; the queue is not changed before backward
        logits = torch.cat([l_pos, l_neg], dim=1) / self.config.tau
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        loss = F.cross_entropy(logits, target)
        self._pending.append(k)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == 0).float().mean()  # the positive key ranked first
            pos_sim, neg_sim = l_pos.mean(), l_neg.mean()
        return StepOutput(
            loss=loss,
            metrics={
                "contrastive_acc": accuracy,
                "pos_sim": pos_sim,
                "neg_sim": neg_sim,
                "momentum": self.momentum_at(progress),
            },
            features=features,
        )

    # -- updates outside autograd --------------------------------------------------------------
    def momentum_at(self, progress: Progress) -> float:
        if self.config.momentum_schedule == "cosine":
            return cosine_momentum(progress, self.config.momentum)
        return self.config.momentum

    def after_optimizer_step(self, progress: Progress) -> None:
        """EMA of the key encoder and head, then enqueue the keys computed since the last step."""
        m = self.momentum_at(progress)
        ema_update_(self.momentum_encoder, self.encoder, m)
        ema_update_(self.momentum_head, self.head, m)
        if self._pending:
            self.queue.enqueue(torch.cat(self._pending))
            self._pending.clear()
