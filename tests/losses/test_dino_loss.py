"""DINO loss against a naive loop over view pairs, closed forms, and the center EMA (1 vs 2 gloo ranks)."""

import math

import pytest
import torch
from distributed_helpers import run_gloo

from selfsup.losses.dino import DINOLoss, dino_cross_entropy

K, B = 7, 3


def _naive(student, teacher, center, n_crops, tau_s, tau_t):
    """Explicit loops: every teacher crop i, every student crop v != i, every sample, every dimension."""
    total, pairs = 0.0, 0
    for i in range(2):
        for v in range(n_crops):
            if v == i:
                continue
            pair = 0.0
            for b in range(B):
                t = [(teacher[i * B + b][k] - center[k]) / tau_t for k in range(K)]
                s = [student[v * B + b][k] / tau_s for k in range(K)]
                zt = sum(math.exp(x) for x in t)
                log_zs = math.log(sum(math.exp(x) for x in s))
                pair += sum(-(math.exp(t[k]) / zt) * (s[k] - log_zs) for k in range(K))
            total += pair / B
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("n_crops", [2, 5])
def test_loss_matches_naive_pair_loop(n_crops):
    torch.manual_seed(0)
    loss_fn = DINOLoss(K, student_temp=0.1)
    loss_fn.center.copy_(torch.randn(1, K))
    student = torch.randn(n_crops * B, K, dtype=torch.float64)
    teacher = torch.randn(2 * B, K, dtype=torch.float64)
    got = loss_fn(student, teacher, teacher_temp=0.05)
    ref = _naive(student.tolist(), teacher.tolist(), loss_fn.center[0].tolist(), n_crops, 0.1, 0.05)
    assert got.item() == pytest.approx(ref, rel=1e-5)
    # Centering off: the naive reference with a zero center.
    off = DINOLoss(K, center=False)
    off.center.fill_(5.0)
    ref0 = _naive(student.tolist(), teacher.tolist(), [0.0] * K, n_crops, 0.1, 0.05)
    assert off(student, teacher, 0.05).item() == pytest.approx(ref0, rel=1e-5)


def test_closed_forms_and_gradient_only_to_student():
    loss_fn = DINOLoss(K)
    student = torch.zeros(4 * B, K, requires_grad=True)
    teacher = torch.randn(2 * B, K, requires_grad=True)
    loss = loss_fn(student, teacher, 0.04)
    assert loss.item() == pytest.approx(math.log(K), rel=1e-6)  # uniform student: CE = log K for any target
    loss.backward()
    assert teacher.grad is None and student.grad is not None
    # A shift of every logit by a constant changes nothing (softmax invariance); the center is one such shift.
    s, t = torch.randn(3 * B, K), torch.randn(2 * B, K)
    torch.testing.assert_close(loss_fn(s + 3.0, t - 2.0, 0.07), loss_fn(s, t, 0.07))


def test_cross_entropy_skips_identical_views_only():
    p = [torch.softmax(torch.randn(B, K), 1) for _ in range(2)]
    log_q = [torch.log_softmax(torch.randn(B, K), 1) for _ in range(3)]
    ce = lambda a, b: (-a * b).sum(1).mean()  # noqa: E731
    expected = (ce(p[0], log_q[1]) + ce(p[0], log_q[2]) + ce(p[1], log_q[0]) + ce(p[1], log_q[2])) / 4
    torch.testing.assert_close(dino_cross_entropy(log_q, p), expected)


def test_center_is_ema_of_batch_mean():
    loss_fn = DINOLoss(K, center_momentum=0.9)
    t1, t2 = torch.randn(2 * B, K), torch.randn(4 * B, K)
    loss_fn.update_center(t1)
    torch.testing.assert_close(loss_fn.center, 0.1 * t1.mean(0, keepdim=True))
    loss_fn.update_center(t2)
    torch.testing.assert_close(
        loss_fn.center, 0.9 * 0.1 * t1.mean(0, keepdim=True) + 0.1 * t2.mean(0, keepdim=True)
    )
    # The loss reads the center but never moves it.
    before = loss_fn.center.clone()
    loss_fn(torch.randn(3 * B, K), t1, 0.04)
    assert torch.equal(loss_fn.center, before)


def test_bad_shapes_are_named():
    loss_fn = DINOLoss(K)
    with pytest.raises(ValueError, match="teacher_out"):
        loss_fn(torch.randn(4 * B, K), torch.randn(2 * B + 1, K), 0.04)
    with pytest.raises(ValueError, match="student_out"):
        loss_fn(torch.randn(4 * B + 1, K), torch.randn(2 * B, K), 0.04)
    with pytest.raises(ValueError, match="teacher_temp"):
        loss_fn(torch.randn(4 * B, K), torch.randn(2 * B, K), 0.0)
    with pytest.raises(ValueError, match="center_momentum"):
        DINOLoss(K, center_momentum=1.5)


def _center_rank(rank: int, world_size: int, batches: list[torch.Tensor], sizes: list[int]) -> dict:
    loss_fn = DINOLoss(K, center_momentum=0.9)
    for t in batches:
        start = sum(sizes[:rank])
        loss_fn.update_center(t[start : start + sizes[rank]])
    return {"center": loss_fn.center}


@pytest.mark.multiprocess
@pytest.mark.parametrize("sizes", [[3, 3], [2, 4]])
def test_center_identical_in_one_and_two_processes(sizes):
    torch.manual_seed(0)
    batches = [torch.randn(sum(sizes), K) for _ in range(3)]
    single = DINOLoss(K, center_momentum=0.9)
    for t in batches:
        single.update_center(t)
    results = run_gloo(_center_rank, 2, batches, sizes)
    for r in results:
        torch.testing.assert_close(r["center"], single.center, rtol=1e-6, atol=1e-7)
