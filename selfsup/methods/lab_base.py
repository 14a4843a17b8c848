"""``LabPretextMethod``: what colorization (Zhang et al. 2016) and split-brain (Zhang et al. 2017) share.

- the encoder is a ``LabInputBackbone`` with one branch per Lab channel group, so evaluation and export
  hand it RGB in [0, 1] (normalization mean 0 / std 1) and it converts to Lab itself;
- training views: one random resized crop + flip per image, RGB in [0, 1];
- the quantized in-gamut ab bins and the class-rebalancing prior: the ab histogram of the first
  ``prior_batches`` training-mode batches (summed over ranks), smoothed and turned into per-bin weights
  (Zhang et al. 2016, §2.2, eq. 4); ``class_weights()`` reads them without updating the prior
  (held-out evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.backbones import Backbone, create_backbone
from selfsup.methods.base import Method, view_generator
from selfsup.nn.distributed import all_reduce_sum
from selfsup.types import Batch
from selfsup.views import random_crop_flip
from selfsup.views.ab_bins import empirical_prior, in_gamut_ab_bins, rebalance_weights, smooth_prior


def lab_backbone_like(backbone: Backbone, groups: Sequence[str]) -> Backbone:
    """A ``LabInputBackbone`` whose branches have ``backbone``'s architecture (from its ``spec``)."""
    name, kwargs = backbone.spec["name"], dict(backbone.spec["kwargs"])
    if name.startswith("lab:"):
        raise ValueError("the backbone is already a Lab-input encoder; pass the plain architecture")
    kwargs["in_chans"] = backbone.in_chans
    return create_backbone("lab:" + name, groups=list(groups), **kwargs)


class LabPretextMethod(Method):
    """Base of the Lab cross-channel methods; subclasses call ``super().__init__(backbone, config, groups)``."""

    def __init__(self, backbone: nn.Module, config: Any, groups: Sequence[str]) -> None:
        super().__init__(backbone, config)
        self.pixel_mean, self.pixel_std = 0.0, 1.0  # the encoder takes RGB in [0, 1] and converts to Lab
        self.encoder = lab_backbone_like(backbone, list(groups))
        size = backbone.image_size
        if not size:
            raise ValueError(
                f"method {self.name} needs the backbone's image_size (create_backbone(..., image_size=))"
            )
        self.image_size = int(size)
        self.output_size = -(-self.image_size // config.output_stride)
        self.grid_size = -(-self.image_size // self.encoder.patch_size)
        self.register_buffer("ab_centers", in_gamut_ab_bins(config.grid))
        self.register_buffer("prior_counts", torch.zeros(self.ab_centers.shape[0]))
        self.register_buffer("prior_batches_seen", torch.zeros((), dtype=torch.long))

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        cfg = self.config
        x = random_crop_flip(images, self.image_size, cfg.crop_scale, cfg.flip_p, generator=generator)
        return Batch(views=[x])

    @torch.no_grad()
    def rebalance(self, ab: Tensor) -> Tensor:
        """Per-bin weights ``[Q]``; the prior counts grow over the first ``prior_batches`` batches."""
        if self.training and int(self.prior_batches_seen) < self.config.prior_batches:
            self.prior_counts += all_reduce_sum(empirical_prior(ab, self.ab_centers))
            self.prior_batches_seen += 1
        return self.class_weights(ab)

    @torch.no_grad()
    def class_weights(self, ab: Tensor | None = None) -> Tensor:
        """The current per-bin weights ``[Q]`` (eq. 4) without updating the prior; before any training
        batch (no counts yet) the prior comes from ``ab`` ``[B, 2, H, W]`` (held-out evaluation)."""
        cfg = self.config
        counts = self.prior_counts
        if float(counts.sum()) <= 0:
            if ab is None:
                raise ValueError("no prior estimated yet: train first or pass ab to estimate it from")
            counts = empirical_prior(ab, self.ab_centers)
        prior = smooth_prior(counts, self.ab_centers, cfg.prior_sigma)
        return rebalance_weights(prior, cfg.rebalance_lambda)
