"""Momentum / EMA update: exact formula, no gradient to the target, cosine momentum schedule."""

import math

import pytest
import torch
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.nn.ema import cosine_momentum, ema_update_, momentum_copy
from selfsup.types import Progress


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))


def test_momentum_copy_is_equal_frozen_and_independent():
    online = _net()
    target = momentum_copy(online)
    for p, t in zip(online.parameters(), target.parameters(), strict=True):
        assert torch.equal(p, t) and p.data_ptr() != t.data_ptr()
        assert p.requires_grad and not t.requires_grad


def test_momentum_copy_has_no_drop_path_or_dropout_but_keeps_batch_statistics():
    # DINO's reference teacher is built without the student's drop_path_rate: a deterministic target.
    torch.manual_seed(0)
    kw = {"patch_size": 4, "embed_dim": 16, "depth": 2, "num_heads": 2}
    student = create_backbone(
        "timm:vit_tiny_patch16_224", in_chans=1, image_size=16, drop_path_rate=0.5, drop_rate=0.2, **kw
    ).train()
    teacher = momentum_copy(student)
    x = torch.randn(4, 1, 16, 16)
    torch.manual_seed(1)
    assert not torch.equal(student(x), student(x))  # the student keeps its stochastic depth
    assert teacher.training
    torch.testing.assert_close(teacher(x), teacher(x), rtol=0, atol=0)
    torch.testing.assert_close(teacher(x), student.eval()(x))  # same weights, nothing dropped
    # Batch norm in the copy still normalizes with the batch's statistics in train mode (references).
    net = momentum_copy(_net()).train()
    h = net[0](x.flatten(1)[:, :4])
    expected = net[2]((h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + net[1].eps))
    torch.testing.assert_close(net(x.flatten(1)[:, :4]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m", [0.0, 0.5, 0.99, 1.0])
def test_update_is_m_old_plus_one_minus_m_online(m):
    torch.manual_seed(0)
    online, target = _net(), _net()
    old = [t.detach().clone() for t in target.parameters()]
    ema_update_(target, online, m)
    for t, o, p in zip(target.parameters(), old, online.parameters(), strict=True):
        torch.testing.assert_close(t, m * o + (1 - m) * p.detach(), rtol=1e-6, atol=1e-7)
    if m == 1.0:
        assert all(torch.equal(t, o) for t, o in zip(target.parameters(), old, strict=True))
    if m == 0.0:
        assert all(torch.equal(t, p) for t, p in zip(target.parameters(), online.parameters(), strict=True))


def test_buffers_are_kept_unless_copied():
    online, target = _net(), _net()
    online[1].running_mean.fill_(3.0)
    ema_update_(target, online, 0.9)
    assert torch.equal(target[1].running_mean, torch.zeros(5))
    ema_update_(target, online, 0.9, copy_buffers=True)
    assert torch.equal(target[1].running_mean, torch.full((5,), 3.0))


def test_no_gradient_reaches_the_target():
    online = _net()
    target = momentum_copy(online)
    x = torch.randn(8, 4)
    (online(x).sum() + target(x).sum()).backward()
    ema_update_(target, online, 0.9)
    assert all(p.grad is not None for p in online.parameters())
    assert all(t.grad is None and not t.requires_grad for t in target.parameters())


def test_mismatched_networks_and_bad_momentum_raise():
    with pytest.raises(ValueError, match="parameters"):
        ema_update_(nn.Linear(2, 2), _net(), 0.9)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        ema_update_(_net(), _net(), 1.5)


def test_cosine_momentum_goes_from_base_to_one():
    total = 100
    values = [cosine_momentum(Progress(s, total), 0.996) for s in range(total + 1)]
    assert values[0] == pytest.approx(0.996)
    assert values[50] == pytest.approx((0.996 + 1) / 2)
    assert values[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    # BYOL's closed form 1 − (1 − m)(cos(πk/K) + 1)/2
    assert values[25] == pytest.approx(1 - 0.004 * (math.cos(math.pi / 4) + 1) / 2)
