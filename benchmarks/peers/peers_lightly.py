"""The peer: lightly 1.6's documented training pipelines, built from lightly's own blocks.

What a lightly user writes (lightly's ``examples/pytorch/{simclr,moco,dino,mae}.py`` and the
docs' method pages): a torchvision-style dataset of PIL images with a lightly transform
(``SimCLRTransform``, ``MoCoV2Transform``, ``DINOTransform``, ``MAETransform``) in a
``torch.utils.data.DataLoader``; lightly's heads, losses and momentum utilities; a plain PyTorch
loop. Everything that is a *choice of recipe* (backbone module, batch, image size, crop scales,
jitter strength, temperatures, head sizes, queue size, momentum, optimizer, lr, weight decay,
gradient clipping, normalization) is read from the same selfsup config, so both pipelines train
the same recipe and only the implementation differs. Deviations from the examples, each needed
for that equality, are marked ``# recipe:``.

The backbone is selfsup's own ``create_backbone`` module (the same class, built with the same
seed), so the network is identical; only the pipeline around it is lightly's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from lightly.loss import DINOLoss, NTXentLoss
from lightly.models import utils as lightly_utils
from lightly.models.modules import (
    DINOProjectionHead,
    MaskedVisionTransformerDecoderTIMM,
    MaskedVisionTransformerTIMM,
    MoCoProjectionHead,
    SimCLRProjectionHead,
)
from lightly.models.utils import deactivate_requires_grad, get_weight_decay_parameters, update_momentum
from lightly.transforms import DINOTransform, MAETransform, MoCoV2Transform, SimCLRTransform
from lightly.utils.scheduler import cosine_schedule, cosine_warmup_schedule
from PIL import Image
from torch import Tensor, nn

from selfsup.train.phase_timer import timed_phase

METHODS = ("simclr", "moco", "dino", "mae")


class PILDataset(torch.utils.data.Dataset):
    """``(transform(PIL image), label)`` per item, as ``torchvision.datasets.FashionMNIST`` returns.

    images: uint8 ``[N, C, H, W]`` (C = 1 -> mode "L", C = 3 -> "RGB"), the tensors selfsup trains on.
    """

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[object, int]:
        x = self.images[i]
        pil = (
            Image.fromarray(x[0].numpy(), mode="L")
            if x.shape[0] == 1
            else Image.fromarray(x.permute(1, 2, 0).numpy())
        )
        return self.transform(pil), int(self.labels[i])


@dataclass
class Schedule:
    """The recipe's step schedule, evaluated with lightly's scheduler functions."""

    total_steps: int
    warmup_steps: int
    peak_lr: float
    min_lr: float
    steps_per_epoch: int


class LightlyPipeline:
    """One method's model, transform and step; ``step`` does forward, backward, optimizer and momentum."""

    def __init__(self, cfg, backbone: nn.Module, mean: list[float], std: list[float]) -> None:
        self.cfg, self.m = cfg, cfg.method
        self.backbone = backbone  # evaluation receives this (or the teacher, below)
        self.normalize = {"mean": list(mean), "std": list(std)}  # recipe: selfsup's normalization
        self.size = int(cfg.data.image_size or 28)
        self.modules: list[nn.Module] = []  # trained (decayed by the optimizer)
        self.build()

    # -- per-method parts (overridden) ------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def transform(self) -> Callable:
        raise NotImplementedError

    def loss(self, views: list[Tensor], step: int, schedule: Schedule) -> Tensor:
        raise NotImplementedError

    def before_optimizer(self, step: int, schedule: Schedule) -> None:
        """Gradient edits between backward and the optimizer step (DINO's frozen last layer)."""

    def after_optimizer(self, step: int, schedule: Schedule) -> None:
        """Momentum updates after the optimizer step."""

    @property
    def encoder(self) -> nn.Module:
        return self.backbone

    # -- shared -------------------------------------------------------------------------------------
    def build_optimizer(self) -> torch.optim.Optimizer:
        """The config's optimizer, no decay on norms and biases (lightly's ``get_weight_decay_parameters``)."""
        o = self.cfg.optim
        decay, no_decay = get_weight_decay_parameters(self.modules)
        groups = [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if o.name == "adamw":
            opt = torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas))
        elif o.name == "sgd":
            opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
        else:
            raise ValueError(f"peer pipeline supports optim.name sgd | adamw, got {o.name!r}")
        self.optimizer = opt
        return opt

    def step(self, views: list[Tensor], step: int, schedule: Schedule, bf16: bool, timer=None) -> Tensor:
        """One training step on a loader batch's views; returns the detached loss. ``timer``: a
        ``selfsup.train.phase_timer.PhaseTimer`` charged with the forward, backward and update phases
        (the views were made in the loader)."""
        lr = cosine_warmup_schedule(
            step, schedule.total_steps, schedule.peak_lr, schedule.min_lr, schedule.warmup_steps, 0.0
        )
        final_wd = self.cfg.optim.final_weight_decay
        for i, group in enumerate(self.optimizer.param_groups):
            group["lr"] = lr
            if final_wd is not None and i == 0:  # recipe: DINO's cosine weight decay
                group["weight_decay"] = cosine_schedule(
                    step, schedule.total_steps, self.cfg.optim.weight_decay, final_wd
                )
        with timed_phase(timer, "forward"), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = self.loss(views, step, schedule)
        with timed_phase(timer, "backward"):
            loss.backward()
        with timed_phase(timer, "update"):
            self.before_optimizer(step, schedule)
            if self.cfg.optim.grad_clip:
                nn.utils.clip_grad_norm_(
                    [p for m in self.modules for p in m.parameters()], self.cfg.optim.grad_clip
                )
            self.optimizer.step()
            self.optimizer.zero_grad()
            self.after_optimizer(step, schedule)
        return loss.detach()


class SimCLRPipeline(LightlyPipeline):
    def build(self) -> None:
        width = self.backbone.num_features
        self.head = SimCLRProjectionHead(width, self.m.proj_hidden_dim or width, self.m.proj_out_dim)
        self.criterion = NTXentLoss(temperature=self.m.temperature)
        self.modules = [self.backbone, self.head]

    def transform(self) -> Callable:
        v = self.m.views
        return SimCLRTransform(
            input_size=self.size, cj_prob=v.jitter_p, cj_strength=v.jitter_strength, min_scale=v.crop_scale[0],
            random_gray_scale=v.grayscale_p, gaussian_blur=v.blur_p, hf_prob=v.flip_p, normalize=self.normalize,
        )  # fmt: skip

    def loss(self, views: list[Tensor], step: int, schedule: Schedule) -> Tensor:
        z0 = self.head(self.backbone(views[0]).flatten(start_dim=1))
        z1 = self.head(self.backbone(views[1]).flatten(start_dim=1))
        return self.criterion(z0, z1)


class MoCoPipeline(LightlyPipeline):
    def build(self) -> None:
        width = self.backbone.num_features
        self.head = MoCoProjectionHead(width, self.m.proj_hidden_dim or width, self.m.proj_out_dim)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.head_momentum = copy.deepcopy(self.head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.head_momentum)
        self.criterion = NTXentLoss(
            temperature=self.m.tau, memory_bank_size=(self.m.queue_size, self.m.proj_out_dim)
        )
        self.modules = [self.backbone, self.head]

    def transform(self) -> Callable:
        v = self.m.recipe
        return MoCoV2Transform(
            input_size=self.size, cj_prob=v.jitter_p, cj_strength=2 * v.jitter_strength, min_scale=v.crop_scale[0],
            random_gray_scale=v.grayscale_p, gaussian_blur=v.blur_p, hf_prob=v.flip_p, normalize=self.normalize,
        )  # fmt: skip  # MoCoV2Transform's jitter 0.4 at strength 1 = selfsup's 0.8 s at s = 0.5

    def momentum(self, step: int, schedule: Schedule) -> float:
        if self.m.momentum_schedule == "cosine":
            return cosine_schedule(step, schedule.total_steps, self.m.momentum, 1.0)
        return self.m.momentum  # recipe: the config's constant momentum

    def loss(self, views: list[Tensor], step: int, schedule: Schedule) -> Tensor:
        m = self.momentum(step, schedule)  # the docs update the key encoder at the start of the step
        update_momentum(self.backbone, self.backbone_momentum, m=m)
        update_momentum(self.head, self.head_momentum, m=m)
        query = self.head(self.backbone(views[0]).flatten(start_dim=1))
        with torch.no_grad():
            key = self.head_momentum(self.backbone_momentum(views[1]).flatten(start_dim=1)).detach()
        return self.criterion(query, key)


class DINOPipeline(LightlyPipeline):
    def build(self) -> None:
        m, width = self.m, self.backbone.num_features
        if m.head_layers != 3:
            raise ValueError("lightly's DINOProjectionHead has 3 layers; set method.head_layers=3")

        def head() -> DINOProjectionHead:
            return DINOProjectionHead(
                width, m.hidden_dim, m.bottleneck_dim, m.out_dim, batch_norm=m.head_bn,
                freeze_last_layer=1, norm_last_layer=m.norm_last_layer,
            )  # fmt: skip

        # As the docs: a second head for the teacher (weight norm cannot be deep-copied); it starts as
        # the student's copy, as in DINO.
        self.student_head, self.teacher_head = head(), head()
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        self.teacher_backbone = copy.deepcopy(self.backbone)
        deactivate_requires_grad(self.teacher_backbone)
        deactivate_requires_grad(self.teacher_head)
        self.criterion = DINOLoss(
            output_dim=m.out_dim, warmup_teacher_temp=m.warmup_teacher_temp, teacher_temp=m.teacher_temp,
            student_temp=m.student_temp, center_momentum=m.center_momentum,
        )  # fmt: skip
        self.modules = [self.backbone, self.student_head]

    @property
    def encoder(self) -> nn.Module:
        return self.teacher_backbone if self.m.eval_encoder == "teacher" else self.backbone

    def transform(self) -> Callable:
        m = self.m
        return DINOTransform(
            global_crop_size=self.size, global_crop_scale=tuple(m.global_scale),
            local_crop_size=m.local_size or max(8, round(self.size * 96 / 224)), local_crop_scale=tuple(m.local_scale),
            n_local_views=m.n_local_crops, normalize=self.normalize,
        )  # fmt: skip

    def loss(self, views: list[Tensor], step: int, schedule: Schedule) -> Tensor:
        m = self.m
        warm = max(1, round(m.warmup_teacher_temp_epochs * schedule.steps_per_epoch))
        temp = m.teacher_temp + (m.warmup_teacher_temp - m.teacher_temp) * max(0.0, 1 - step / warm)
        with torch.no_grad():
            teacher_out = [
                self.teacher_head(self.teacher_backbone(v).flatten(start_dim=1)) for v in views[:2]
            ]
        student_out = [self.student_head(self.backbone(v).flatten(start_dim=1)) for v in views]
        return self.criterion(teacher_out, student_out, teacher_temp=temp)

    def before_optimizer(self, step: int, schedule: Schedule) -> None:
        frozen = step < self.m.freeze_last_layer_epochs * schedule.steps_per_epoch  # recipe: in steps
        self.student_head.cancel_last_layer_gradients(current_epoch=0 if frozen else 1)

    def after_optimizer(self, step: int, schedule: Schedule) -> None:
        mom = cosine_schedule(step, schedule.total_steps, self.m.momentum_teacher, 1.0)
        update_momentum(self.backbone, self.teacher_backbone, m=mom)
        update_momentum(self.student_head, self.teacher_head, m=mom)


class MAEPipeline(LightlyPipeline):
    def build(self) -> None:
        m, vit = self.m, self.backbone.model  # selfsup's TimmBackbone wraps a timm VisionTransformer
        self.patch_size = vit.patch_embed.patch_size[0]
        self.masked_vit = MaskedVisionTransformerTIMM(vit=vit)
        self.sequence_length = self.masked_vit.sequence_length
        self.decoder_embed = nn.Linear(vit.embed_dim, m.decoder_dim)
        self.decoder = MaskedVisionTransformerDecoderTIMM(
            num_patches=vit.patch_embed.num_patches, embed_dim=m.decoder_dim, depth=m.decoder_depth,
            num_heads=m.decoder_heads, num_prefix_tokens=vit.num_prefix_tokens, mlp_ratio=m.decoder_mlp_ratio,
        )  # fmt: skip
        self.prediction_head = nn.Linear(m.decoder_dim, self.patch_size**2 * vit.patch_embed.proj.in_channels)
        self.criterion = nn.MSELoss()
        self.modules = [self.masked_vit, self.decoder_embed, self.decoder, self.prediction_head]

    def transform(self) -> Callable:
        return MAETransform(input_size=self.size, min_scale=self.m.crop_scale[0], normalize=self.normalize)

    def loss(self, views: list[Tensor], step: int, schedule: Schedule) -> Tensor:
        images = views[0]
        b = images.shape[0]
        idx_keep, idx_mask = lightly_utils.random_token_mask(
            size=(b, self.sequence_length), mask_ratio=self.m.mask_ratio, device=images.device
        )
        encoded = self.masked_vit.encode(images=images, idx_keep=idx_keep)
        x = self.decoder_embed(encoded)
        full = lightly_utils.set_at_index(x.new_zeros(b, self.sequence_length, x.shape[-1]), idx_keep, x)
        pred = self.prediction_head(
            lightly_utils.get_at_index(self.decoder(full, idx_mask=idx_mask), idx_mask)
        )
        target = lightly_utils.get_at_index(lightly_utils.patchify(images, self.patch_size), idx_mask - 1)
        if self.m.norm_pix_loss:  # recipe: MAE's normalized-pixel target (the config's norm_pix_loss)
            mu, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
            target = (target - mu) / (var + 1e-6) ** 0.5
        return self.criterion(pred.float(), target.float())


PIPELINES: dict[str, type[LightlyPipeline]] = {
    "simclr": SimCLRPipeline,
    "moco": MoCoPipeline,
    "dino": DINOPipeline,
    "mae": MAEPipeline,
}


def views_of(batch: object) -> list[Tensor]:
    """The list of view tensors of a default-collated ``(views, labels)`` batch (MAE: one view)."""
    views = batch[0]  # type: ignore[index]
    return list(views) if isinstance(views, (list, tuple)) else [views]
