"""Context encoder / inpainting (Pathak, Krähenbühl, Donahue, Darrell, Efros 2016, "Context Encoders").

A region of each image is removed, the encoder sees the rest, a conv decoder (``selfsup.nn.conv_decoder``)
predicts the image, and the reconstruction loss is the L2 error on the removed pixels (eq. 1). Hole
shapes (``mask``, §3.3): ``center`` (a central square of half the side, the paper's inpainting setting),
``blocks`` (random smaller squares) and ``region`` (random arbitrary shapes covering 1/4 of the image,
``selfsup.views.region_mask``; the paper's choice for all feature experiments, because the fixed
boundary of a central square teaches boundary-specific low-level features that do not transfer to
whole images).

The defaults are set for **features** (what ``self.encoder`` is evaluated on); BENCHMARKS.md §16.6
checks each on the validation split:

- ``mask = "region"`` (§3.3), the paper's choice for all its feature experiments.
- ``bridge = "pooled"``: the decoder reads only the global-average-pooled vector (expanded by one
  linear layer, ``selfsup.nn.channelwise_fc.PooledBridge``), the very vector kNN / linear probes
  read. With the decoder on the 4x4 feature map each cell codes its own neighbourhood and the pooled
  mean mixes those codes; the paper's channel-wise FC bridge (§3.1, ``bridge = "channelwise_fc"``)
  lets information cross the map but still decodes cell by cell.
- ``fill = "image_mean"``: the hole shows each image's mean context value (``context_mean_fill``)
  instead of normalized 0 (a grey patch on Fashion-MNIST's black background).
- ``overlap_px = 2``, ``overlap_weight = 10``: the prediction also covers a band of context around the
  hole whose L2 weighs 10x (§5.1: a few pixels of overlap at 128 px).
- Training length: a few hundred steps need a larger lr than the paper's; the configs use
  ``optim.lr: 4e-3`` per 256 images.

The loss is the per-image weighted mean (``weighted_l2_per_image``) averaged over the batch, so a
batch split across ranks gives the mean of the ranks' losses even when overlap bands differ in area.

With ``adversarial: true`` a small discriminator (``selfsup.nn.discriminator``) tells real images
from images whose removed region is filled with the prediction, and the loss is
``lambda_rec * L_rec + lambda_adv * L_adv`` with the paper's 0.999 / 0.001 (§3.2, eq. 3). Both
players train from the one optimizer: the discriminator's loss sees the prediction detached, and
the generator's adversarial term runs the discriminator with detached weights
(``torch.func.functional_call``), so each loss only moves its own player (simultaneous updates).
The generator term is the non-saturating ``-log D(G(x))`` (Goodfellow et al. 2014).

Logged: ``rec_mse`` (per removed value, normalized pixels) and ``mean_baseline_mse``, the error of
the trivial predictor that fills the hole with each image's mean context color.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.channelwise_fc import ChannelwiseFC, PooledBridge
from selfsup.nn.conv_decoder import ConvDecoder, spatial_features
from selfsup.nn.discriminator import ConvDiscriminator
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import normalize, random_crop_flip
from selfsup.views.inpaint_masks import apply_mask, make_mask
from selfsup.views.region_mask import random_region_mask

__all__ = ["ContextEncoder", "InpaintingConfig", "context_mean_fill", "masked_l2", "weighted_l2_per_image"]


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


def weighted_l2_per_image(pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Per-image weighted mean squared error ``[B]``: ``sum(w (pred - target)^2) / (C * sum(w))`` per image.

    ``weights`` ``[B, 1, H, W]`` >= 0 with a positive sum in every image. Averaging these per-image
    values (rather than pooling all pixels of the batch) keeps the loss of a batch split across ranks
    equal to the mean of the ranks' losses when holes differ in area (e.g. overlap bands).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must match")
    denom = weights.sum((1, 2, 3)) * pred.shape[1]
    if bool((denom <= 0).any()):
        raise ValueError("an image has no weighted pixel; the masked L2 loss is undefined for it")
    return (weights * (pred - target) ** 2).sum((1, 2, 3)) / denom


def context_mean_fill(x: Tensor, mask: Tensor) -> Tensor:
    """The trivial inpainting: every pixel = the image's mean visible color ``[B, C, 1, 1]`` (broadcast)."""
    visible = 1 - mask
    return (x * visible).sum((2, 3), keepdim=True) / visible.sum((2, 3), keepdim=True).clamp_min(1)


@dataclass
class InpaintingConfig(MethodConfig):
    mask: str = (
        "region"  # §3.3: random regions for features (also "center", the inpainting default; "blocks")
    )
    region_coverage: float = 0.25  # §3.3: random regions cover "up to 1/4 of the image"
    region_grid: int = 4  # noise lattice of the random-region blobs (selfsup.views.region_mask)
    fill: str = "image_mean"  # hole content the encoder sees: "image_mean" (context mean) or "zero"
    overlap_px: int = 2  # §5.1: the prediction overlaps the context by a few px (2 of 28 here) ...
    overlap_weight: float = 10.0  # ... and the overlap band's L2 weighs 10x (§5.1)
    mask_fraction: float = 0.5  # §3.3: a 64 px square in 128 px images (1/4 of the area)
    block_fraction: float = 0.25  # side of each random block
    num_blocks: int = 4  # 4 blocks of side 1/4 cover "up to 1/4 of the image" (§3.3)
    adversarial: bool = False  # the joint loss of §3.2 (off by default: L2 only, cheaper and stabler on CPU)
    lambda_rec: float = 0.999  # §3.2 / §4: lambda_rec = 0.999
    lambda_adv: float = 0.001  # §3.2 / §4: lambda_adv = 0.001
    disc_width: int = 32
    decoder_width: int = 128
    bridge: str = "pooled"  # encoder -> decoder: "pooled" (mean vector), "channelwise_fc" (§3.1), "none"
    crop_scale: tuple[float, float] = (0.5, 1.0)  # random crops as augmentation
    flip_p: float = 0.5
    mean: float = 0.5  # inputs normalized to [-1, 1] (fill "zero" puts 0, mid-grey, in the hole)
    std: float = 0.5

    def validate(self) -> None:
        if self.mask not in ("center", "blocks", "region"):
            raise ValueError(f"method.mask must be 'center', 'blocks' or 'region', got {self.mask!r}")
        if self.bridge not in ("none", "channelwise_fc", "pooled"):
            raise ValueError(
                f"method.bridge must be 'none', 'channelwise_fc' or 'pooled', got {self.bridge!r}"
            )
        if self.fill not in ("zero", "image_mean"):
            raise ValueError(f"method.fill must be 'zero' or 'image_mean', got {self.fill!r}")
        if not 0.0 < self.region_coverage < 1.0:
            raise ValueError(f"method.region_coverage must be in (0, 1), got {self.region_coverage}")
        if self.region_grid < 2:
            raise ValueError(f"method.region_grid must be >= 2, got {self.region_grid}")
        if self.overlap_px < 0 or self.overlap_weight < 0:
            raise ValueError("method.overlap_px and method.overlap_weight must be >= 0")
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
    """Encoder-decoder inpainting; ``self.encoder`` is the backbone (sees context-only images).

    ``inpaint``: normalized ``x [B, C, S, S]`` and ``mask [B, 1, S, S]`` -> ``encoder`` feature map
    ``[B, D, S/p, S/p]`` -> ``bridge`` -> ``decoder`` -> prediction ``[B, C, S, S]``.
    """

    Config = InpaintingConfig

    def __init__(self, backbone: nn.Module, config: InpaintingConfig) -> None:
        super().__init__(backbone, config)
        self.pixel_mean, self.pixel_std = config.mean, config.std
        size = backbone.image_size
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
        bridges = {"channelwise_fc": ChannelwiseFC, "pooled": PooledBridge}
        self.bridge = (
            bridges[config.bridge](backbone.token_dim, grid, grid)
            if config.bridge in bridges
            else nn.Identity()
        )
        self.discriminator = (
            ConvDiscriminator(backbone.in_chans, self.image_size, config.disc_width)
            if config.adversarial
            else None
        )

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        cfg = self.config
        x = random_crop_flip(images, self.image_size, cfg.crop_scale, cfg.flip_p, generator=generator)
        x = normalize(x, *self.normalization())
        mask = self.sample_mask(x.shape[0], generator)
        return Batch(views=[x], targets={"mask": mask})

    def sample_mask(self, batch: int, generator: torch.Generator) -> Tensor:
        """``[batch, 1, S, S]`` holes of the configured kind (1 = removed), on ``generator``'s device."""
        cfg, s = self.config, self.image_size
        if cfg.mask == "region":
            return random_region_mask(batch, s, s, cfg.region_coverage, cfg.region_grid, generator=generator)
        return make_mask(
            cfg.mask,
            batch,
            s,
            s,
            fraction=cfg.mask_fraction,
            block_fraction=cfg.block_fraction,
            num_blocks=cfg.num_blocks,
            generator=generator,
        )

    def remove(self, x: Tensor, mask: Tensor) -> Tensor:
        """The encoder's input: ``x [B, C, H, W]`` with the hole (``mask [B, 1, H, W]`` = 1) filled."""
        if self.config.fill == "image_mean":
            return x * (1 - mask) + context_mean_fill(x, mask) * mask
        return apply_mask(x, mask)

    def inpaint(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Normalized images, masks -> (prediction ``[B, C, H, W]``, pooled context features ``[B, D]``)."""
        features = spatial_features(self.encoder, self.remove(x, mask))
        return self.decoder(self.bridge(features)), features.mean(dim=(2, 3))

    def loss_weights(self, mask: Tensor) -> Tensor:
        """Per-pixel L2 weights ``[B, 1, H, W]``: 1 in the hole, ``overlap_weight`` on the context band of
        ``overlap_px`` pixels around it (Chebyshev distance), 0 elsewhere (Pathak et al. 2016, §5.1)."""
        if self.config.overlap_px == 0:
            return mask
        k = 2 * self.config.overlap_px + 1
        band = F.max_pool2d(mask, k, stride=1, padding=self.config.overlap_px) - mask
        return mask + self.config.overlap_weight * band

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        x, mask = batch.views[0], batch.targets["mask"]
        pred, pooled = self.inpaint(x, mask)
        pred = pred.float()
        rec = masked_l2(pred, x, mask)
        loss_rec = weighted_l2_per_image(pred, x, self.loss_weights(mask)).mean()
        with torch.no_grad():
            baseline = masked_l2(context_mean_fill(x, mask).expand_as(x), x, mask)
        metrics: dict[str, float | Tensor] = {"rec_mse": rec.detach(), "mean_baseline_mse": baseline}
        loss = loss_rec
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
            loss = self.config.lambda_rec * loss_rec + self.config.lambda_adv * g_adv + d_loss
            metrics.update(d_loss=d_loss.detach(), g_adv=g_adv.detach())
        return StepOutput(loss=loss, metrics=metrics, features=pooled)

    def extra_state(self) -> dict:
        return {"mask": self.config.mask, "mask_fraction": self.config.mask_fraction}
