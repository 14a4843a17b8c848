"""Masked reconstruction loss against a naive per-patch loop; visible patches never count."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses.reconstruction import MaskedReconstructionLoss, normalize_patches


def _naive(pred, target, mask, norm_pix):
    total, count = 0.0, 0
    for b in range(pred.shape[0]):
        for i in range(pred.shape[1]):
            if mask[b, i] == 1:
                t = target[b, i]
                if norm_pix:
                    t = (t - t.mean()) / (t.var(unbiased=True) + 1e-6).sqrt()
                total += ((pred[b, i] - t) ** 2).mean().item()
                count += 1
    return total / count


@pytest.mark.parametrize("norm_pix", [True, False])
def test_matches_naive_loop(norm_pix: bool) -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 10, 16, generator=g), torch.randn(3, 10, 16, generator=g)
    mask = (torch.rand(3, 10, generator=g) > 0.5).float()
    loss = MaskedReconstructionLoss(norm_pix_loss=norm_pix)(pred, target, mask)
    assert loss.item() == pytest.approx(_naive(pred, target, mask, norm_pix), rel=1e-5)


def test_changing_visible_predictions_does_not_change_loss_or_get_gradient() -> None:
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 9, 4, generator=g), torch.randn(2, 9, 4, generator=g)
    mask = torch.zeros(2, 9)
    mask[:, ::3] = 1
    loss_fn = MaskedReconstructionLoss()
    edited = pred.clone()
    edited[mask == 0] = 100.0
    assert loss_fn(pred, target, mask).item() == loss_fn(edited, target, mask).item()
    p = pred.clone().requires_grad_(True)
    loss_fn(p, target, mask).backward()
    assert p.grad[mask == 0].abs().sum() == 0
    assert p.grad[mask == 1].abs().sum() > 0


def test_normalized_patches_have_zero_mean_unit_variance() -> None:
    t = torch.randn(2, 5, 16) * 3 + 7
    n = normalize_patches(t)
    torch.testing.assert_close(n.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(n.var(-1), torch.ones(2, 5), atol=1e-4, rtol=0)


def test_perfect_prediction_gives_zero() -> None:
    t = torch.randn(2, 4, 8)
    mask = torch.ones(2, 4)
    assert MaskedReconstructionLoss(norm_pix_loss=False)(t, t, mask).item() == 0.0
    assert MaskedReconstructionLoss()(normalize_patches(t), t, mask).item() == pytest.approx(0.0, abs=1e-10)
