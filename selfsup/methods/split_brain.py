"""Split-brain autoencoder (Zhang, Isola, Efros 2017, "Split-Brain Autoencoders").

The network is split into two disjoint sub-networks over the Lab channels: F1 sees L and predicts
ab, F2 sees ab and predicts L (cross-channel prediction, §3.2). Both are trained with
classification losses (the paper's best variant, "cl,cl"): L -> ab over the in-gamut ab bins of
grid 10 (soft-encoded targets as in Zhang et al. 2016; class rebalancing optional, off by
default), ab -> L over 50 lightness bins of width 2 (L in [0, 100]). The total loss is the sum.

For downstream use the two halves' features are concatenated (§3.2, "the full representation is
the concatenation"): ``method.encoder`` is a ``LabInputBackbone(groups=["l", "ab"])`` that takes RGB
in [0, 1], converts to Lab and concatenates the two branches' pooled features, so its
``num_features`` is the sum of both. Each branch has the configured backbone architecture; the paper
halves each layer's width so that the pair costs one network -- pick the backbone width accordingly.

Logged: ``ab_bin_acc`` / ``l_bin_acc`` (argmax vs the nearest bin) beside ``ab_mode_acc`` /
``l_mode_acc``, the accuracy of the best constant guess (the batch's most frequent bin), and the two
losses beside ``ab_const_ce`` / ``l_const_ce``, the cross-entropy of the best constant distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.backbones.lab_input import lab_groups_input
from selfsup.methods.base import MethodConfig
from selfsup.methods.colorization import (
    batch_mode_accuracy,
    constant_prediction_ce,
    rebalanced_soft_cross_entropy,
)
from selfsup.methods.lab_base import LabPretextMethod
from selfsup.nn.conv_decoder import ConvDecoder, spatial_features
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views.ab_bins import (
    bin_index,
    soft_encode,
)
from selfsup.views.lab import rgb_to_lab

__all__ = ["SplitBrain", "SplitBrainConfig", "lightness_bins"]


def lightness_bins(l_channel: Tensor, num_bins: int) -> Tensor:
    """L in [0, 100] ``[B, 1, H, W]`` -> bin index ``[B, H, W]`` in ``[0, num_bins)`` (equal widths)."""
    idx = torch.floor(l_channel[:, 0] * (num_bins / 100.0)).long()
    return idx.clamp_(0, num_bins - 1)


@dataclass
class SplitBrainConfig(MethodConfig):
    l_bins: int = 50  # ab -> L classification over 50 lightness bins (width 2)
    grid: float = 10.0  # L -> ab over the in-gamut ab bins of grid 10 (Zhang et al. 2016)
    soft_neighbors: int = 5
    soft_sigma: float = 5.0
    rebalance: bool = False  # the split-brain classification losses are not rebalanced
    rebalance_lambda: float = 0.5
    prior_sigma: float = 5.0
    prior_batches: int = 50
    output_stride: int = 4
    decoder_width: int = 128
    crop_scale: tuple[float, float] = (0.5, 1.0)
    flip_p: float = 0.5

    def validate(self) -> None:
        if self.l_bins < 2:
            raise ValueError(f"method.l_bins must be >= 2, got {self.l_bins}")
        for name in ("grid", "soft_sigma", "prior_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"method.{name} must be > 0, got {getattr(self, name)}")
        if self.soft_neighbors < 1 or self.prior_batches < 1 or self.output_stride < 1:
            raise ValueError(
                "method.soft_neighbors, method.prior_batches and method.output_stride must be >= 1"
            )
        if not 0.0 <= self.rebalance_lambda <= 1.0:
            raise ValueError(f"method.rebalance_lambda must be in [0, 1], got {self.rebalance_lambda}")
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"method.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")


@register_method("split_brain")
class SplitBrain(LabPretextMethod):
    """Two cross-channel predictors; ``self.encoder`` concatenates both halves' features."""

    Config = SplitBrainConfig

    def __init__(self, backbone: nn.Module, config: SplitBrainConfig) -> None:
        super().__init__(backbone, config, groups=["l", "ab"])
        l_net, ab_net = self.encoder.branches
        kw = {"in_size": (self.grid_size,) * 2, "width": config.decoder_width}
        out = (self.output_size,) * 2
        self.decoder_l_to_ab = ConvDecoder(l_net.token_dim, self.ab_centers.shape[0], out, **kw)
        self.decoder_ab_to_l = ConvDecoder(ab_net.token_dim, config.l_bins, out, **kw)

    def forward_halves(self, rgb: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """RGB ``[B, 3, H, W]`` -> (Lab, ab logits ``[B, Q, h, w]``, L logits ``[B, l_bins, h, w]``, features)."""
        lab = rgb_to_lab(rgb.float())
        l_net, ab_net = self.encoder.branches
        f_l = spatial_features(l_net, lab_groups_input(lab, "l"))
        f_ab = spatial_features(ab_net, lab_groups_input(lab, "ab"))
        pooled = torch.cat((f_l.mean(dim=(2, 3)), f_ab.mean(dim=(2, 3))), dim=1)
        return lab, self.decoder_l_to_ab(f_l), self.decoder_ab_to_l(f_ab), pooled

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        cfg = self.config
        lab, ab_logits, l_logits, pooled = self.forward_halves(batch.views[0])
        s = cfg.output_stride
        target = F.avg_pool2d(lab, s, ceil_mode=True) if s > 1 else lab
        ab, lightness = target[:, 1:], target[:, :1]
        z = soft_encode(ab, self.ab_centers, cfg.soft_neighbors, cfg.soft_sigma)
        pixel_w = self.rebalance(ab)[z.argmax(dim=1)] if cfg.rebalance else None
        loss_ab = rebalanced_soft_cross_entropy(ab_logits, z, pixel_w)
        l_target = lightness_bins(lightness, cfg.l_bins)
        loss_l = F.cross_entropy(l_logits.float(), l_target)
        with torch.no_grad():
            nearest = bin_index(ab, self.ab_centers)
            metrics: dict[str, float | Tensor] = {
                "loss_l_to_ab": loss_ab.detach(),
                "loss_ab_to_l": loss_l.detach(),
                "ab_bin_acc": (ab_logits.argmax(1) == nearest).float().mean(),
                "ab_mode_acc": batch_mode_accuracy(nearest, self.ab_centers.shape[0]),
                "l_bin_acc": (l_logits.argmax(1) == l_target).float().mean(),
                "l_mode_acc": batch_mode_accuracy(l_target, cfg.l_bins),
                "ab_const_ce": constant_prediction_ce(z),
                "l_const_ce": constant_prediction_ce(F.one_hot(l_target, cfg.l_bins).permute(0, 3, 1, 2)),
            }
        return StepOutput(loss=loss_ab + loss_l, metrics=metrics, features=pooled)

    def extra_state(self) -> dict:
        return {"input_colour": "rgb in [0, 1], converted to Lab inside the encoder", "groups": ["l", "ab"]}
