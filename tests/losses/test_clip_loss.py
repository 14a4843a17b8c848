"""CLIP loss vs a naive per-row reference, vs open_clip's ClipLoss, and its learnable scale clamped after the step."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.losses.clip import ClipLoss, clip_loss


def _naive(image: torch.Tensor, text: torch.Tensor, scale: float) -> torch.Tensor:
    """½ (mean_i -log softmax_j(s u_i·v_j)[i] + mean_j -log softmax_i(s v_j·u_i)[j]), written out per row."""
    u = image / image.norm(dim=1, keepdim=True)
    v = text / text.norm(dim=1, keepdim=True)
    n = u.shape[0]
    i2t = t2i = 0.0
    for i in range(n):
        sims = torch.stack([scale * (u[i] * v[j]).sum() for j in range(n)])
        i2t = i2t - (sims[i] - torch.logsumexp(sims, 0))
        sims = torch.stack([scale * (v[i] * u[j]).sum() for j in range(n)])
        t2i = t2i - (sims[i] - torch.logsumexp(sims, 0))
    return 0.5 * (i2t + t2i) / n


def _features(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(
        n, d, generator=g, dtype=torch.float64
    )


def test_matches_naive_reference_and_gradients() -> None:
    image, text = _features()
    loss_fn = ClipLoss().double()
    a, b = image.clone().requires_grad_(True), text.clone().requires_grad_(True)
    loss = loss_fn(a, b)
    loss.backward()
    a2, b2 = image.clone().requires_grad_(True), text.clone().requires_grad_(True)
    ref = _naive(a2, b2, float(loss_fn.scale))  # 1/0.07 rounded through float32 at init
    ref.backward()
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(a.grad, a2.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(b.grad, b2.grad, rtol=1e-9, atol=1e-12)


def test_matches_open_clip_clip_loss() -> None:
    from open_clip.loss import ClipLoss as OpenClipLoss

    image, text = _features(8, 16, seed=1)
    u, v = F.normalize(image, dim=1), F.normalize(text, dim=1)
    for scale in (1 / 0.07, 3.0, 100.0):
        ours = clip_loss(u, v, scale)
        theirs = OpenClipLoss()(u, v, torch.tensor(scale, dtype=torch.float64))
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_scale_init_gradient_at_the_bound_and_clamp_after_the_step() -> None:
    loss_fn = ClipLoss()
    assert math.isclose(float(loss_fn.scale.detach()), 1 / 0.07, rel_tol=1e-6)
    with torch.no_grad():
        loss_fn.log_scale.fill_(math.log(100.0))
    image, text = _features()
    loss_fn(image.float(), text.float()).backward()
    # At the bound the scale keeps its gradient (open_clip: no clamp in the forward) ...
    assert loss_fn.log_scale.grad != 0
    u, v = F.normalize(image.float(), dim=1), F.normalize(text.float(), dim=1)
    torch.testing.assert_close(loss_fn(image.float(), text.float()), clip_loss(u, v, 100.0))
    # ... and the parameter itself is clamped to [0, log 100] after an optimizer step.
    with torch.no_grad():
        loss_fn.log_scale.fill_(math.log(500.0))
    loss_fn.clamp_scale_()
    assert math.isclose(float(loss_fn.scale.detach()), 100.0, rel_tol=1e-6)
    with torch.no_grad():
        loss_fn.log_scale.fill_(-1.0)
    loss_fn.clamp_scale_()
    assert float(loss_fn.log_scale.detach()) == 0.0  # scale >= 1, as open_clip's clamp_(0, ln 100)
    frozen = ClipLoss(learnable=False)
    assert not frozen.log_scale.requires_grad
    with pytest.raises(ValueError, match="init_temperature"):
        ClipLoss(init_temperature=0.001)  # scale 1000 > max_scale 100


def test_perfect_alignment_closed_form() -> None:
    """Orthonormal matched pairs: every row's logits are s on the diagonal, 0 elsewhere."""
    n, s = 4, 10.0
    eye = torch.eye(n, dtype=torch.float64)
    expected = -(s - math.log(math.exp(s) + n - 1))
    torch.testing.assert_close(clip_loss(eye, eye, s), torch.tensor(expected, dtype=torch.float64))
    _, acc = ClipLoss().forward_with_accuracy(eye, eye)
    assert float(acc) == 1.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="one shape"):
        ClipLoss()(torch.randn(4, 3), torch.randn(4, 5))
    with pytest.raises(ValueError, match="init_temperature"):
        ClipLoss(init_temperature=0.0)
