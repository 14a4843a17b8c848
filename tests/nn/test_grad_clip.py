"""Per-parameter clipping against an explicit loop of the reference formula."""

import pytest
import torch

from selfsup.nn.grad_clip import clip_grad_norm_per_parameter_


def test_each_gradient_is_clipped_on_its_own():
    torch.manual_seed(0)
    big, small, none = (torch.nn.Parameter(torch.zeros(5)) for _ in range(3))
    big.grad = torch.randn(5) * 10  # norm ~ 20 > 3
    small.grad = torch.full((5,), 0.1)  # norm 0.22 < 3: untouched, whatever the others' norms
    want_big = big.grad * (3.0 / (big.grad.norm() + 1e-6))
    want_small = small.grad.clone()
    clip_grad_norm_per_parameter_([big, small, none], 3.0)
    torch.testing.assert_close(big.grad, want_big)
    assert big.grad.norm() == pytest.approx(3.0, rel=1e-5)
    assert torch.equal(small.grad, want_small) and none.grad is None
    # the global-norm clip would have shrunk the small gradient too
    g = [torch.randn(5) * 10, torch.full((5,), 0.1)]
    ps = [torch.nn.Parameter(torch.zeros(5)) for _ in g]
    for p, x in zip(ps, g, strict=True):
        p.grad = x.clone()
    torch.nn.utils.clip_grad_norm_(ps, 3.0)
    assert ps[1].grad.norm() < g[1].norm()


def test_rejects_a_non_positive_limit():
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_per_parameter_([], 0.0)
