"""Masked reconstruction loss (MAE, He et al. 2021, §3 "Reconstruction target").

Mean squared error between predicted and target pixels, per patch, averaged over the *masked*
patches only ("similar to BERT"; visible patches get no loss). With ``norm_pix_loss`` (default on:
Table 1c, +0.5 to +1.0 fine-tuning accuracy) each target patch is normalized by its own mean and
standard deviation: ``(t - mean) / sqrt(var + 1e-6)``, with the unbiased variance as in the
reference code.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MaskedReconstructionLoss", "normalize_patches"]


def normalize_patches(target: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-patch normalization ``[B, L, P] -> [B, L, P]``: zero mean, unit (unbiased) variance."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + eps).sqrt()


class MaskedReconstructionLoss(nn.Module):
    """``loss(pred [B, L, P], target [B, L, P], mask [B, L]) -> scalar``; mask 1 = masked (scored).

    ``norm_pix_loss=True`` normalizes the target patches (not the prediction) first.
    """

    def __init__(self, norm_pix_loss: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm_pix_loss = norm_pix_loss
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        if mask.shape != pred.shape[:2]:
            raise ValueError(f"mask must be [B, L] = {tuple(pred.shape[:2])}, got {tuple(mask.shape)}")
        if self.norm_pix_loss:
            target = normalize_patches(target, self.eps)
        per_patch = (pred.float() - target.float()).pow(2).mean(dim=-1)  # [B, L]
        mask = mask.float()
        return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)
