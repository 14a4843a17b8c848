"""Colorization (Zhang, Isola, Efros 2016, "Colorful Image Colorization"): L in, ab out.

Each RGB image (random resized crop + flip) is converted to CIE Lab (``selfsup.views.lab``); the
encoder sees only the lightness L, and a conv decoder on its spatial features predicts, at 1/4 of
the input resolution (the paper predicts 56x56 for 224x224 inputs), either

- ``loss: classification`` (default, §2.1): a distribution over the in-gamut ab bins of grid 10
  (``selfsup.views.ab_bins``), trained with cross-entropy against the soft-encoded ground truth
  (5 nearest bins, sigma 5), each pixel weighted by the class-rebalancing weight of its nearest
  bin (§2.2, lambda 0.5, prior smoothed with sigma 5; ``rebalance: false`` drops the weights); or
- ``loss: regression``: ab / 110 directly, with an L2 loss (the paper's "L2" baseline).

The prior is estimated from the training data itself: the nearest-bin histogram of the first
``prior_batches`` batches (summed over ranks), kept in buffers so a resumed run uses the same
weights; it is estimated with ``rebalance: false`` too, so held-out metrics can report the rebalanced
loss either way. The ground-truth ab map is average-pooled to the output resolution, as in the paper.

``configs/colorization_stamps.yaml`` turns rebalancing off for the 641 stamps (BENCHMARKS.md §16.8);
the default stays the paper's full method. ``pretext_metrics(rgb)`` evaluates
held-out images against the trivial predictors (``benchmarks/colorization_heldout.py``).

``method.encoder`` is a ``LabInputBackbone`` with one ``"l"`` branch of the configured architecture:
it takes RGB in [0, 1] (``normalization()`` is mean 0 / std 1) and converts to L itself, so the
shared kNN / linear probe evaluate it on ordinary images.

Logged: ``bin_acc`` (argmax vs nearest bin), ``mode_acc`` (the trivial predictor: the batch's most
frequent bin everywhere), ``loss`` beside ``const_loss`` (the same loss, rebalanced or not, of the best
constant guess for the batch) and ``ce`` (unweighted) beside ``const_ce``, ``ab_rmse`` (annealed-mean
decoding, T = 0.38, §2.3) and ``gray_rmse`` (predicting ab = 0, a gray image), both in ab units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import MethodConfig
from selfsup.methods.lab_base import LabPretextMethod
from selfsup.nn.conv_decoder import ConvDecoder, spatial_features
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views.ab_bins import (
    annealed_mean,
    bin_index,
    soft_encode,
)
from selfsup.views.lab import AB_SCALE, normalize_l, rgb_to_lab

__all__ = [
    "Colorization",
    "ColorizationConfig",
    "batch_mode_accuracy",
    "constant_prediction_ce",
    "rebalanced_soft_cross_entropy",
]


def rebalanced_soft_cross_entropy(logits: Tensor, soft_target: Tensor, pixel_weight: Tensor | None) -> Tensor:
    """Eq. 2: ``-mean_{h,w} v_hw sum_q Z_hwq log softmax(logits)_hwq``; logits/targets ``[B, Q, H, W]``,
    ``pixel_weight`` ``[B, H, W]`` (None: all 1)."""
    per_pixel = -(soft_target * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if pixel_weight is not None:
        per_pixel = per_pixel * pixel_weight
    return per_pixel.mean()


def constant_prediction_ce(soft_target: Tensor, pixel_weight: Tensor | None = None) -> Tensor:
    """(Weighted) cross-entropy of the best constant guess ``c``, the same distribution at every pixel.

    The minimizer of ``mean_p v_p sum_q Z_pq (-log c_q)`` is ``c ∝ sum_p v_p Z_p`` (the weighted mean
    target); ``soft_target`` ``[B, Q, H, W]``, ``pixel_weight`` ``[B, H, W]`` (None: all 1).
    """
    z = soft_target.float()
    v = torch.ones_like(z[:, 0]) if pixel_weight is None else pixel_weight.float()
    c = (z * v[:, None]).sum(dim=(0, 2, 3), keepdim=True)
    c = c / c.sum()
    return (-(z * c.clamp_min(1e-12).log()).sum(dim=1) * v).mean()


def batch_mode_accuracy(bins: Tensor, num_bins: int) -> Tensor:
    """Accuracy of predicting the batch's most frequent bin everywhere (the best constant guess)."""
    counts = torch.bincount(bins.flatten(), minlength=num_bins)
    return counts.max().float() / bins.numel()


@dataclass
class ColorizationConfig(MethodConfig):
    loss: str = "classification"  # §2.1 classification over quantized ab; "regression": L2 on ab
    rebalance: bool = True  # §2.2 class rebalancing
    rebalance_lambda: float = 0.5  # §2.2: lambda = 1/2
    prior_sigma: float = 5.0  # §2.2: Gaussian smoothing of the prior, sigma = 5
    soft_neighbors: int = 5  # §2.1: 5 nearest neighbours
    soft_sigma: float = 5.0  # §2.1: sigma = 5
    grid: float = 10.0  # §2.1: grid size 10
    anneal_temperature: float = 0.38  # §2.3: T = 0.38
    prior_batches: int = 50  # batches whose ab histogram estimates the prior
    output_stride: int = 4  # §3 / Fig. 2: 56x56 output for 224x224 input
    decoder_width: int = 128
    crop_scale: tuple[float, float] = (0.5, 1.0)
    flip_p: float = 0.5

    def validate(self) -> None:
        if self.loss not in ("classification", "regression"):
            raise ValueError(f"method.loss must be 'classification' or 'regression', got {self.loss!r}")
        if not 0.0 <= self.rebalance_lambda <= 1.0:
            raise ValueError(f"method.rebalance_lambda must be in [0, 1], got {self.rebalance_lambda}")
        for name in ("prior_sigma", "soft_sigma", "grid", "anneal_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"method.{name} must be > 0, got {getattr(self, name)}")
        if self.soft_neighbors < 1 or self.prior_batches < 1 or self.output_stride < 1:
            raise ValueError(
                "method.soft_neighbors, method.prior_batches and method.output_stride must be >= 1"
            )
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"method.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")


@register_method("colorization")
class Colorization(LabPretextMethod):
    """L -> ab; ``self.encoder`` is a ``LabInputBackbone(groups=["l"])`` (RGB in, converts itself)."""

    Config = ColorizationConfig

    def __init__(self, backbone: nn.Module, config: ColorizationConfig) -> None:
        super().__init__(backbone, config, groups=["l"])
        out_chans = self.ab_centers.shape[0] if config.loss == "classification" else 2
        out, grid = (self.output_size,) * 2, (self.grid_size,) * 2
        self.decoder = ConvDecoder(
            self.encoder.token_dim, out_chans, out, in_size=grid, width=config.decoder_width
        )

    def target_ab(self, lab: Tensor) -> Tensor:
        """Ground-truth ab ``[B, 2, h, w]`` at the output resolution (average-pooled)."""
        s = self.config.output_stride
        return F.avg_pool2d(lab[:, 1:], s, ceil_mode=True) if s > 1 else lab[:, 1:]

    def predict(self, rgb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """RGB ``[B, 3, H, W]`` in [0, 1] -> (Lab, decoder output ``[B, Q or 2, h, w]``, pooled features)."""
        lab = rgb_to_lab(rgb.float())
        features = spatial_features(self.encoder.branches[0], normalize_l(lab[:, :1]))
        return lab, self.decoder(features), features.mean(dim=(2, 3))

    def decode_ab(self, output: Tensor) -> Tensor:
        """Decoder output -> ab ``[B, 2, h, w]`` (annealed mean for classification, rescaled for regression)."""
        if self.config.loss == "classification":
            return annealed_mean(output, self.ab_centers, self.config.anneal_temperature)
        return output.float() * AB_SCALE

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        lab, out, pooled = self.predict(batch.views[0])
        ab = self.target_ab(lab)
        metrics: dict[str, float | Tensor] = {}
        with torch.no_grad():
            nearest = bin_index(ab, self.ab_centers)
        if self.config.loss == "classification":
            cfg = self.config
            z = soft_encode(ab, self.ab_centers, cfg.soft_neighbors, cfg.soft_sigma)
            weights = self.rebalance(ab)  # always estimate the prior, so held-out metrics can weight
            pixel_w = weights[z.argmax(dim=1)] if cfg.rebalance else None
            loss = rebalanced_soft_cross_entropy(out, z, pixel_w)
            with torch.no_grad():
                metrics["bin_acc"] = (out.argmax(dim=1) == nearest).float().mean()
                metrics["ce"] = rebalanced_soft_cross_entropy(out, z, None)
                metrics["const_ce"] = constant_prediction_ce(z)
                metrics["const_loss"] = constant_prediction_ce(z, pixel_w)
        else:
            loss = F.mse_loss(out.float(), ab / AB_SCALE)
        with torch.no_grad():
            metrics["mode_acc"] = batch_mode_accuracy(nearest, self.ab_centers.shape[0])
            metrics["ab_rmse"] = (self.decode_ab(out.detach()) - ab).pow(2).mean().sqrt()
            metrics["gray_rmse"] = ab.pow(2).mean().sqrt()
        return StepOutput(loss=loss, metrics=metrics, features=pooled)

    @torch.no_grad()
    def pretext_metrics(self, rgb: Tensor, batch_size: int = 256) -> dict[str, float]:
        """Pretext metrics on held-out RGB ``[N, 3, S, S]`` in [0, 1] (eval mode; the prior is not updated).

        Classification: ``ce`` (unweighted soft cross-entropy, the ``rebalance: false`` loss) beside
        ``const_ce``, the best constant distribution *fitted on these very images* (an oracle lower bound
        for any constant guess), and ``loss_rb`` / ``const_loss_rb`` the same with the class-rebalancing
        weights of the training prior (eq. 2); ``bin_acc`` beside ``mode_acc`` (most frequent bin).
        Both losses: ``ab_rmse`` (annealed mean / regression output) beside ``gray_rmse`` (ab = 0).
        """
        was_training = self.training
        self.eval()
        try:
            parts = [self.predict(rgb[i : i + batch_size]) for i in range(0, rgb.shape[0], batch_size)]
        finally:
            self.train(was_training)
        out = torch.cat([p[1] for p in parts])
        ab = self.target_ab(torch.cat([p[0] for p in parts]))
        nearest = bin_index(ab, self.ab_centers)
        metrics = {
            "mode_acc": float(batch_mode_accuracy(nearest, self.ab_centers.shape[0])),
            "ab_rmse": float((self.decode_ab(out) - ab).pow(2).mean().sqrt()),
            "gray_rmse": float(ab.pow(2).mean().sqrt()),
        }
        if self.config.loss == "classification":
            cfg = self.config
            z = soft_encode(ab, self.ab_centers, cfg.soft_neighbors, cfg.soft_sigma)
            pixel_w = self.class_weights(ab)[z.argmax(dim=1)]
            metrics |= {
                "ce": float(rebalanced_soft_cross_entropy(out, z, None)),
                "const_ce": float(constant_prediction_ce(z)),
                "loss_rb": float(rebalanced_soft_cross_entropy(out, z, pixel_w)),
                "const_loss_rb": float(constant_prediction_ce(z, pixel_w)),
                "bin_acc": float((out.argmax(dim=1) == nearest).float().mean()),
            }
        return metrics

    def extra_state(self) -> dict:
        return {
            "input_colour": "rgb in [0, 1], converted to Lab L inside the encoder",
            "ab_bins": int(self.ab_centers.shape[0]),
        }
