"""Context encoder / inpainting (Pathak, Krähenbühl, Donahue, Darrell, Efros 2016, "Context Encoders").

A region of each image is removed (``mask: center``, a central square of half the side, §3.3, or
``mask: blocks``, random smaller squares covering up to 1/4); the encoder sees the rest (the
removed pixels set to 0, the normalized mean), a conv decoder (``selfsup.nn.conv_decoder``) predicts
the full image from the encoder's spatial features, and the reconstruction loss is the L2 error on
the removed pixels only (eq. 1; ``masked_l2``).

With ``adversarial: true`` a small discriminator (``selfsup.nn.discriminator``) tells real images
from images whose removed region is filled with the prediction, and the loss is
``lambda_rec * L_rec + lambda_adv * L_adv`` with the paper's 0.999 / 0.001 (§3.2, eq. 3). Both
players train from the one optimizer: the discriminator's loss sees the prediction detached, and
the generator's adversarial term runs the discriminator with detached weights
(``torch.func.functional_call``), so each loss only moves its own player (simultaneous updates).
The generator term is the non-saturating ``-log D(G(x))`` (Goodfellow et al. 2014).

Logged: ``rec_mse`` (per masked value, normalized pixels) and ``mean_baseline_mse``, the error of
the trivial predictor that fills the hole with each image's mean context color.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from selfsup.methods.base import Method, MethodConfig
from selfsup.nn.conv_decoder import ConvDecoder, spatial_features
from selfsup.nn.discriminator import ConvDiscriminator
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import normalize, random_resized_crop, to_float
from selfsup.views.inpaint_masks import apply_mask, make_mask

__all__ = ["ContextEncoder", "InpaintingConfig", "context_mean_fill", "masked_l2"]


def masked_l2(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the masked values only: ``sum(m (pred - target)^2) / (C * sum(m))``.

    ``pred``/``target`` ``[B, C, H, W]``, ``mask`` ``[B, 1, H, W]`` (1 = masked, scored).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must match")
    denom = mask.sum() * pred.shape[1]
    if float(denom) == 0:
        raise ValueError("mask has no masked pixel; the masked L2 loss is undefined")
    return (mask * (pred - target) ** 2).sum() / denom


def context_mean_fill(x: Tensor, mask: Tensor) -> Tensor:
    """The trivial inpainting: every pixel = the image's mean visible color ``[B, C, 1, 1]`` (broadcast)."""
    visible = 1 - mask
    return (x * visible).sum((2, 3), keepdim=True) / visible.sum((2, 3), keepdim=True).clamp_min(1)


@dataclass
class InpaintingConfig(MethodConfig):
    mask: str = "center"  # §3.3: central region (also "blocks": random blocks)
    mask_fraction: float = 0.5  # §3.3: a 64 px square in 128 px images (1/4 of the area)
    block_fraction: float = 0.25  # side of each random block
    num_blocks: int = 4  # 4 blocks of side 1/4 cover "up to 1/4 of the image" (§3.3)
    adversarial: bool = False  # the joint loss of §3.2 (off by default: L2 only, cheaper and stabler on CPU)
    lambda_rec: float = 0.999  # §3.2 / §4: lambda_rec = 0.999
    lambda_adv: float = 0.001  # §3.2 / §4: lambda_adv = 0.001
    disc_width: int = 32
    decoder_width: int = 128
    crop_scale: tuple[float, float] = (0.5, 1.0)  # random crops as augmentation
    flip_p: float = 0.5
    mean: float = 0.5  # inputs normalized to [-1, 1]; the hole is filled with 0 (the mean)
    std: float = 0.5

    def validate(self) -> None:
        if self.mask not in ("center", "blocks"):
            raise ValueError(f"method.mask must be 'center' or 'blocks', got {self.mask!r}")
        for name in ("mask_fraction", "block_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"method.{name} must be in (0, 1), got {getattr(self, name)}")
        if self.num_blocks < 1:
            raise ValueError(f"method.num_blocks must be >= 1, got {self.num_blocks}")
        if self.lambda_rec < 0 or self.lambda_adv < 0:
            raise ValueError("method.lambda_rec and method.lambda_adv must be >= 0")
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"method.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"method.flip_p must be in [0, 1], got {self.flip_p}")
        if not self.std > 0:
            raise ValueError(f"method.std must be > 0, got {self.std}")


@register_method("inpainting")
class ContextEncoder(Method):
    """Encoder-decoder inpainting; ``self.encoder`` is the backbone (sees context-only images)."""

    Config = InpaintingConfig

    def __init__(self, backbone: nn.Module, config: InpaintingConfig) -> None:
        super().__init__(backbone, config)
        size = backbone.spec["kwargs"].get("image_size")
        if not size:
            raise ValueError(
                "method inpainting needs the backbone's image_size (create_backbone(..., image_size=))"
            )
        self.image_size = int(size)
        grid = -(-self.image_size // backbone.patch_size)
        self.decoder = ConvDecoder(
            backbone.token_dim,
            backbone.in_chans,
            (self.image_size, self.image_size),
            in_size=(grid, grid),
            width=config.decoder_width,
        )
        self.discriminator = (
            ConvDiscriminator(backbone.in_chans, self.image_size, config.disc_width)
            if config.adversarial
            else None
        )

    def normalization(self) -> tuple[list[float], list[float]]:
        c = self.encoder.in_chans
        return [self.config.mean] * c, [self.config.std] * c

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        indices: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        if generator is None:
            generator = torch.Generator(device=images.device).manual_seed(0)
        cfg = self.config
        x = random_resized_crop(
            to_float(images), self.image_size, cfg.crop_scale, flip_p=cfg.flip_p, generator=generator
        )
        x = normalize(x, *self.normalization())
        mask = make_mask(
            cfg.mask,
            x.shape[0],
            self.image_size,
            self.image_size,
            fraction=cfg.mask_fraction,
            block_fraction=cfg.block_fraction,
            num_blocks=cfg.num_blocks,
            generator=generator,
        )
        return Batch(views=[x], targets={"mask": mask}, labels=labels, indices=indices, images=images)

    def inpaint(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Normalized images and masks -> (prediction ``[B, C, H, W]``, pooled context features ``[B, D]``)."""
        features = spatial_features(self.encoder, apply_mask(x, mask))
        return self.decoder(features), features.mean(dim=(2, 3))

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        x, mask = batch.views[0], batch.targets["mask"]
        pred, pooled = self.inpaint(x, mask)
        pred = pred.float()
        rec = masked_l2(pred, x, mask)
        with torch.no_grad():
            baseline = masked_l2(context_mean_fill(x, mask).expand_as(x), x, mask)
        metrics: dict[str, float | Tensor] = {"rec_mse": rec.detach(), "mean_baseline_mse": baseline}
        loss = rec
        if self.discriminator is not None:
            filled = x * (1 - mask) + pred * mask
            real_logit, fake_logit = self.discriminator(x), self.discriminator(filled.detach())
            d_loss = F.binary_cross_entropy_with_logits(
                real_logit, torch.ones_like(real_logit)
            ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
            frozen.update(dict(self.discriminator.named_buffers()))
            g_logit = functional_call(self.discriminator, frozen, (filled,))
            g_adv = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
            loss = self.config.lambda_rec * rec + self.config.lambda_adv * g_adv + d_loss
            metrics.update(d_loss=d_loss.detach(), g_adv=g_adv.detach())
        return StepOutput(loss=loss, metrics=metrics, features=pooled)

    def extra_state(self) -> dict:
        return {"mask": self.config.mask, "mask_fraction": self.config.mask_fraction}
