"""DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers"): self-distillation
with no labels.

A student (backbone + ``DINOHead``) is trained to match a teacher of identical architecture whose
weights are an EMA of the student's (§3.1): the teacher sees only the 2 global crops, the student
every crop (2 global + N local, ``MultiCropGenerator``), and the loss (``DINOLoss``) is the
cross-entropy between the centered, sharpened teacher distribution and the student's over all
(teacher crop, student crop) pairs of different crops. Crops of one resolution go through the
backbone in one forward; the head runs once over all of them.

Schedules, all pure functions of ``Progress`` (so resume is exact):

- teacher momentum ``m``: cosine from 0.996 to 1 over training (§3.1, BYOL's schedule);
  ``teacher_update`` replaces the EMA by the copies DINO compares in §5.2 (Table 6: the student
  copied every iteration, or once per epoch), for the stability ablation of ``selfsup findings``;
- teacher temperature ``τ_t``: linear warm-up 0.04 -> 0.07 over the first 30 epochs (§3.1);
- the head's last layer is frozen (its gradients cancelled) during the first epoch, which the
  reference code found stabilizes early training (``freeze_last_layer=1``);
- weight decay cosine 0.04 -> 0.4, lr warm-up and gradient clipping live in ``optim`` (trainer).

DINO's kNN / linear results evaluate the **teacher** backbone (§4: "the teacher performs better"), so
``method.encoder`` — what evaluation, online kNN and export receive — is the teacher by default
(``eval_encoder: student`` swaps). Collapse monitors (``selfsup.monitors.collapse``) are logged every step:
teacher entropy, batch-mean entropy, KL(teacher || student), std of normalized teacher features and a
status code, with a warning when the run collapses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.losses.dino import DINOLoss, dino_cross_entropy
from selfsup.methods.base import Method, MethodConfig
from selfsup.monitors.collapse import (
    STATUS_CODES,
    CollapseMonitor,
    collapse_status,
    embedding_std,
    kl_divergence,
    marginal_entropy,
    mean_entropy,
)
from selfsup.nn.dino_head import DINOHead
from selfsup.nn.ema import cosine_momentum, ema_update_, momentum_copy
from selfsup.nn.grad_clip import clip_grad_norm_per_parameter_
from selfsup.nn.multi_resolution import forward_by_resolution
from selfsup.registry import register_method
from selfsup.schedules import linear_warmup
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views.multi_crop import DINO_BASE_RECIPE, MultiCropGenerator
from selfsup.views.recipe import ViewRecipe
from selfsup.views.sized import ViewsBySize

TEACHER_UPDATES = ("ema", "iteration", "epoch")


@dataclass
class DINOConfig(MethodConfig):
    out_dim: int = 65536  # K prototypes (§3.1); use a few hundred to thousands for small data
    hidden_dim: int = 2048
    bottleneck_dim: int = 256
    head_layers: int = 3
    norm_last_layer: bool = True  # weight-norm gain fixed to 1 (reference code default)
    head_bn: bool = False  # batch norm in the head MLP (reference code: False for ViT, True for ResNet-50)
    student_temp: float = 0.1
    teacher_temp: float = 0.07  # after warm-up
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_epochs: float = 30.0
    center_momentum: float = 0.9
    center: bool = True  # False only to demonstrate collapse (benchmarks/dino_collapse.py)
    momentum_teacher: float = 0.996  # raised to 1 by a cosine
    # ema: the cosine-scheduled EMA above (DINO). iteration / epoch: the teacher is a plain copy of the
    # student, refreshed after every optimizer step / after the last step of every epoch (DINO §5.2,
    # Table 6: the per-iteration copy collapses, the per-epoch copy learns but trails the EMA).
    teacher_update: str = "ema"
    freeze_last_layer_epochs: float = 1.0
    n_local_crops: int = 8  # reference code default (the paper's best: 10)
    global_size: int | None = None  # None: the input size (DINO: 224)
    local_size: int | None = None  # None: global_size · 96/224 (DINO: 96)
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    global_blur_p: tuple[float, float] = (1.0, 0.1)
    local_blur_p: float = 0.5
    global_solarize_p: tuple[float, float] = (0.0, 0.2)
    views: ViewRecipe = dataclasses.field(default_factory=lambda: DINO_BASE_RECIPE)
    eval_encoder: str = "teacher"  # teacher | student: which backbone evaluation and export receive
    collapse_patience: int = 20  # steps of collapse before a warning
    # Reference code: each student parameter's gradient norm clipped to 3.0 on its own (--clip_grad);
    # None leaves clipping to optim.grad_clip (one global norm).
    clip_grad_per_parameter: float | None = None

    def validate(self) -> None:
        for name in ("out_dim", "hidden_dim", "bottleneck_dim", "head_layers", "collapse_patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"method.{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_grad_per_parameter is not None and not self.clip_grad_per_parameter > 0:
            raise ValueError(
                f"method.clip_grad_per_parameter must be > 0 (DINO: 3.0) or null, got {self.clip_grad_per_parameter}"
            )
        if self.out_dim < 2:
            raise ValueError(f"method.out_dim must be >= 2 (DINO: 65536), got {self.out_dim}")
        for name in ("student_temp", "teacher_temp", "warmup_teacher_temp"):
            if not getattr(self, name) > 0:
                raise ValueError(f"method.{name} must be > 0, got {getattr(self, name)}")
        for name in ("warmup_teacher_temp_epochs", "freeze_last_layer_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"method.{name} must be >= 0 (epochs), got {getattr(self, name)}")
        for name in ("center_momentum", "momentum_teacher"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"method.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.n_local_crops < 0:
            raise ValueError(f"method.n_local_crops must be >= 0 (DINO: 8), got {self.n_local_crops}")
        if self.teacher_update not in TEACHER_UPDATES:
            raise ValueError(
                f"method.teacher_update must be one of {list(TEACHER_UPDATES)} (DINO: ema), got {self.teacher_update!r}"
            )
        if self.eval_encoder not in ("teacher", "student"):
            raise ValueError(f"method.eval_encoder must be 'teacher' or 'student', got {self.eval_encoder!r}")


@register_method("dino")
class DINO(Method):
    """Student (all crops) distilled from an EMA teacher (global crops) with centering and sharpening."""

    Config = DINOConfig

    def __init__(self, backbone: nn.Module, config: DINOConfig) -> None:
        super().__init__(backbone, config)
        head = DINOHead(
            backbone.num_features,
            out_dim=config.out_dim,
            hidden_dim=config.hidden_dim,
            bottleneck_dim=config.bottleneck_dim,
            num_layers=config.head_layers,
            norm_last_layer=config.norm_last_layer,
            use_bn=config.head_bn,
        )
        teacher = momentum_copy(backbone)
        # `encoder` is what evaluation receives; the other backbone keeps its own name, so no module is
        # registered twice and the state dict has each weight once.
        if config.eval_encoder == "teacher":
            self.encoder, self.student_backbone = teacher, backbone
        else:
            self.encoder, self.teacher_backbone = backbone, teacher
        self.student_head = head
        self.teacher_head = momentum_copy(head)
        self.n_global = len(config.global_blur_p)
        self.loss_fn = DINOLoss(
            config.out_dim,
            n_global=self.n_global,
            student_temp=config.student_temp,
            center_momentum=config.center_momentum,
            center=config.center,
        )
        self.pixel_mean, self.pixel_std = config.views.mean, config.views.std
        self.make_views = ViewsBySize(self._build_views, config.global_size)
        self.collapse_monitor = CollapseMonitor(patience=config.collapse_patience)

    @property
    def student(self) -> nn.Module:
        """The trained backbone."""
        return self.student_backbone if self.config.eval_encoder == "teacher" else self.encoder

    @property
    def teacher(self) -> nn.Module:
        """The EMA backbone (no gradient)."""
        return self.encoder if self.config.eval_encoder == "teacher" else self.teacher_backbone

    def _build_views(self, size: int) -> MultiCropGenerator:
        c = self.config
        return MultiCropGenerator(
            c.views,
            global_size=size,
            local_size=c.local_size,
            n_local=c.n_local_crops,
            global_scale=c.global_scale,
            local_scale=c.local_scale,
            global_blur_p=c.global_blur_p,
            local_blur_p=c.local_blur_p,
            global_solarize_p=c.global_solarize_p,
        )

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        views = self.make_views(images, generator)
        return Batch(views=views)

    # -- schedules (pure functions of progress) -------------------------------------------------
    def teacher_temp_at(self, progress: Progress) -> float:
        c = self.config
        warmup_steps = round(c.warmup_teacher_temp_epochs * progress.steps_per_epoch)
        return linear_warmup(progress, c.warmup_teacher_temp, c.teacher_temp, warmup_steps)

    def momentum_at(self, progress: Progress) -> float:
        """Teacher momentum after step ``progress.step``: 0 copies the student, 1 keeps the teacher."""
        update = self.config.teacher_update
        if update == "iteration":
            return 0.0
        if update == "epoch":
            return 0.0 if (progress.step + 1) % progress.steps_per_epoch == 0 else 1.0
        return cosine_momentum(progress, self.config.momentum_teacher)

    def last_layer_frozen(self, progress: Progress) -> bool:
        return progress.epoch_float < self.config.freeze_last_layer_epochs

    # -- training -------------------------------------------------------------------------------
    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        g, b = self.n_global, batch.batch_size
        if len(batch.views) <= g:
            raise ValueError(f"DINO needs more than {g} views per batch, got {len(batch.views)}")
        student_feats = forward_by_resolution(self.student, batch.views)
        student_out = self.student_head(student_feats)
        with torch.no_grad():
            teacher_feats = self.teacher(torch.cat(batch.views[:g]))
            teacher_out = self.teacher_head(teacher_feats)
        temp = self.teacher_temp_at(progress)
        log_p_s = self.loss_fn.student_log_probs(student_out, len(batch.views))
        log_p_t = self.loss_fn.teacher_log_probs(teacher_out, temp)
        loss = dino_cross_entropy(log_p_s, [lp.exp() for lp in log_p_t])
        self.loss_fn.update_center(teacher_out)  # after the loss, as eq. 4 / Algorithm 1
        metrics = self._monitors(log_p_s, log_p_t, teacher_feats[:b], progress)
        metrics.update(teacher_temp=temp, momentum=self.momentum_at(progress))
        features = teacher_feats[:b] if self.config.eval_encoder == "teacher" else student_feats[:b]
        return StepOutput(loss=loss, metrics=metrics, features=features)

    @torch.no_grad()
    def _monitors(
        self, log_p_s: list[Tensor], log_p_t: list[Tensor], teacher_feats: Tensor, progress: Progress
    ) -> dict[str, float | Tensor]:
        all_t = torch.cat(log_p_t)
        entropy, marginal = mean_entropy(all_t), marginal_entropy(all_t)
        kls = [
            kl_divergence(lt, ls.detach())
            for i, lt in enumerate(log_p_t)
            for v, ls in enumerate(log_p_s)
            if v != i
        ]
        metrics: dict[str, float | Tensor] = {
            "teacher_entropy": entropy,
            "teacher_marginal_entropy": marginal,
            "kl_teacher_student": torch.stack(kls).mean(),
        }
        std = embedding_std(teacher_feats) if teacher_feats.shape[0] >= 2 else None
        if std is not None:
            metrics["embedding_std"] = std
        status = collapse_status(
            entropy=float(entropy),
            marginal=float(marginal),
            num_classes=self.config.out_dim,
            std=None if std is None else float(std),
            dim=teacher_feats.shape[1],
        )
        metrics["collapse"] = float(STATUS_CODES[status])
        self.collapse_monitor.update(status, progress.step)
        return metrics

    def after_backward(self, progress: Progress) -> None:
        if self.config.clip_grad_per_parameter is not None:
            clip_grad_norm_per_parameter_(
                [*self.student.parameters(), *self.student_head.parameters()],
                self.config.clip_grad_per_parameter,
            )
        # Reference code: `cancel_gradients_last_layer` sets the grads to None, so the optimizer skips
        # the layer entirely (no momentum or weight-decay update either).
        if self.last_layer_frozen(progress):
            for p in self.student_head.last_layer.parameters():
                p.grad = None

    def after_optimizer_step(self, progress: Progress) -> None:
        m = self.momentum_at(progress)
        ema_update_(self.teacher, self.student, m)
        ema_update_(self.teacher_head, self.student_head, m)

    def extra_state(self) -> dict[str, str]:
        return {"exported_backbone": self.config.eval_encoder}
