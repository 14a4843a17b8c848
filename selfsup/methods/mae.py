"""MAE (He, Chen, Xie, Li, Dollár, Girshick 2021, "Masked Autoencoders Are Scalable Vision Learners").

A ViT encoder sees only a random 25 % of the patches (plus the class token); a light decoder gets
the encoded tokens plus a shared mask token at the masked positions and reconstructs the pixels;
the loss is the MSE on masked patches only, against per-patch normalized pixels.

The backbone must be a plain timm ViT (``timm:vit_*``, any size; small images via
``backbone_kwargs: {patch_size: 4}`` and ``data.image_size``). The method drives the timm modules
directly (``selfsup.nn.vit_encoder``), so ``method.encoder`` stays an ordinary ``TimmBackbone``
whose export is a plain timm ViT. Its position embeddings are MAE's fixed 2-D sin-cos (frozen).

Augmentation is MAE's: random resized crop (scale 0.2-1, §A.1 "RandomResizedCrop") and horizontal
flip only. The masking noise is drawn in ``make_batch`` from the trainer's generator and carried in
``batch.targets["mask_noise"]`` so a resumed run masks exactly the same patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.losses.reconstruction import MaskedReconstructionLoss
from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.mae_decoder import MAEDecoder
from selfsup.nn.patches import patchify
from selfsup.nn.vit_encoder import check_plain_vit, init_mae_vit, vit_encode_visible, vit_grid
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import normalize, random_crop_flip


@dataclass
class MAEConfig(MethodConfig):
    mask_ratio: float = 0.75  # §4.1 / Fig. 5: 75 % is best for fine-tuning and linear probing
    norm_pix_loss: bool = True  # Table 1c: per-patch normalized pixels as the target
    decoder_dim: int = 512  # Table 1b: width 512 at ImageNet scale
    decoder_depth: int = 8  # Table 1a: 8 blocks at ImageNet scale
    decoder_heads: int = 16  # reference ViT decoder: 16 heads
    decoder_mlp_ratio: float = 4.0
    crop_scale: tuple[float, float] = (0.2, 1.0)  # §A.1: RandomResizedCrop(scale=(0.2, 1.0))
    flip_p: float = 0.5
    mean: tuple[float, ...] | None = None  # None: 0.5 per channel (ImageNet stats for RGB in the paper)
    std: tuple[float, ...] | None = None
    mae_init: bool = True  # MAE's xavier init and frozen sin-cos position embeddings

    def validate(self) -> None:
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"method.mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.decoder_dim < 4 or self.decoder_dim % 4:
            raise ValueError(f"method.decoder_dim must be a positive multiple of 4, got {self.decoder_dim}")
        if self.decoder_heads < 1 or self.decoder_dim % self.decoder_heads:
            raise ValueError(
                f"method.decoder_heads must divide method.decoder_dim ({self.decoder_dim}), "
                f"got {self.decoder_heads}"
            )
        if self.decoder_depth < 0:
            raise ValueError(f"method.decoder_depth must be >= 0, got {self.decoder_depth}")
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"method.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"method.flip_p must be in [0, 1], got {self.flip_p}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("method.mean and method.std must be given together (or both null)")


@register_method("mae")
class MAE(Method):
    """Masked autoencoder around a timm ViT backbone; ``self.encoder`` is the backbone."""

    Config = MAEConfig

    def __init__(self, backbone: nn.Module, config: MAEConfig) -> None:
        super().__init__(backbone, config)
        self.pixel_mean, self.pixel_std = config.mean, config.std
        vit = getattr(backbone, "model", None)
        if vit is None:
            raise ValueError("method mae needs a 'timm:vit_*' backbone (e.g. timm:vit_tiny_patch16_224)")
        check_plain_vit(vit)
        if config.mae_init:
            init_mae_vit(vit)
        self.patch_size = int(backbone.patch_size)
        self.grid = vit_grid(vit)
        self.decoder = MAEDecoder(
            self.grid,
            encoder_dim=int(vit.embed_dim),
            patch_dim=self.patch_size**2 * backbone.in_chans,
            dim=config.decoder_dim,
            depth=config.decoder_depth,
            num_heads=config.decoder_heads,
            mlp_ratio=config.decoder_mlp_ratio,
            num_prefix_tokens=int(vit.num_prefix_tokens),
        )
        self.loss_fn = MaskedReconstructionLoss(norm_pix_loss=config.norm_pix_loss)

    @property
    def vit(self) -> nn.Module:
        return self.encoder.model

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        size = self.grid[0] * self.patch_size
        x = random_crop_flip(images, size, self.config.crop_scale, self.config.flip_p, generator=generator)
        mean, std = self.normalization()
        x = normalize(x, mean, std)
        noise = torch.rand(x.shape[0], self.grid[0] * self.grid[1], device=x.device, generator=generator)
        return Batch(views=[x], targets={"mask_noise": noise})

    def forward_mae(
        self, images: Tensor, mask_ratio: float | None = None, noise: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``images [B, C, H, W]`` (normalized) -> ``(loss, pred [B, L, p*p*C], mask [B, L], latent)``.

        ``pred`` is in the target's space (normalized per patch when ``norm_pix_loss``).
        """
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        latent, masking = vit_encode_visible(self.vit, images, ratio, noise=noise)
        pred = self.decoder(latent, masking.ids_restore)
        loss = self.loss_fn(pred, patchify(images, self.patch_size), masking.mask)
        return loss, pred, masking.mask, latent

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        loss, _, _, latent = self.forward_mae(batch.views[0], noise=batch.targets.get("mask_noise"))
        return StepOutput(loss=loss, metrics={}, features=latent[:, 0])

    def param_groups(self, weight_decay: float) -> list[dict]:
        """As the base split, plus no decay on class / register / mask tokens and position embeddings.

        (timm's ``no_weight_decay`` set, which MAE's optimizer factory uses.)
        """
        skip = ("cls_token", "reg_token", "pos_embed", "mask_token")
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            plain = p.ndim <= 1 or name.rsplit(".", 1)[-1] in skip
            (no_decay if plain else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
            {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True},
        ]
        return [g for g in groups if g["params"]]

    def extra_state(self) -> dict:
        return {"mask_ratio": self.config.mask_ratio, "norm_pix_loss": self.config.norm_pix_loss}
