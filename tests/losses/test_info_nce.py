"""InfoNCE / NT-Xent: naive-loop references (SimCLR eq. 1, SupCon L_out), closed forms, invariances,
gradients, the accuracy metric and input validation (single process)."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import InfoNCELoss

TAUS = [0.05, 0.1, 0.5, 1.0]


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def simclr_eq1(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> float:
    """SimCLR eq. 1 literally: views interleaved as (2k-1, 2k), ℓ(i, j) over all k ≠ i, mean of ℓ(2k-1, 2k)
    and ℓ(2k, 2k-1)."""
    z = []
    for a, b in zip(z0.tolist(), z1.tolist(), strict=True):
        z += [_unit(a), _unit(b)]
    n2 = len(z)

    def ell(i: int, j: int) -> float:
        denom = sum(math.exp(_dot(z[i], z[k]) / tau) for k in range(n2) if k != i)
        return -math.log(math.exp(_dot(z[i], z[j]) / tau) / denom)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n2 // 2)) / n2


def supcon_out(z: torch.Tensor, ids: list[int], tau: float) -> tuple[float, float]:
    """SupCon L_out (Khosla et al. 2020, eq. 2) by loops; anchors without positives skipped. Also returns
    the top-1 accuracy (nearest other embedding shares the id)."""
    zs = [_unit(v) for v in z.tolist()]
    total, count, correct = 0.0, 0, 0
    for i, zi in enumerate(zs):
        pos = [p for p in range(len(zs)) if p != i and ids[p] == ids[i]]
        if not pos:
            continue
        sims = {a: _dot(zi, zs[a]) / tau for a in range(len(zs)) if a != i}
        denom = sum(math.exp(s) for s in sims.values())
        total += sum(-math.log(math.exp(sims[p]) / denom) for p in pos) / len(pos)
        count += 1
        correct += ids[max(sims, key=sims.get)] == ids[i]
    return total / count, correct / count


@pytest.mark.parametrize("tau", TAUS)
def test_two_views_match_simclr_eq1(tau):
    z0, z1 = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    loss = InfoNCELoss(temperature=tau)(z0, z1)
    assert loss.dtype == torch.float64 and loss.dim() == 0
    assert loss.item() == pytest.approx(simclr_eq1(z0, z1, tau), rel=1e-12)


@pytest.mark.parametrize("tau", TAUS)
def test_four_views_match_multi_positive_reference(tau):
    views = [torch.randn(5, 7, dtype=torch.float64) for _ in range(4)]
    loss, metrics = InfoNCELoss(temperature=tau).forward_with_metrics(views)
    ref, ref_acc = supcon_out(torch.cat(views), list(range(5)) * 4, tau)
    assert loss.item() == pytest.approx(ref, rel=1e-12)
    assert metrics["accuracy"].item() == pytest.approx(ref_acc)


@pytest.mark.parametrize("tau", TAUS)
def test_indices_with_repeated_labels_match_supcon(tau):
    # class labels: several repeats, and label 9 seen once (that anchor has no positive and is skipped)
    labels = [0, 1, 2, 0, 1, 0, 3, 3, 2, 9, 1, 1]
    z = torch.randn(len(labels), 6, dtype=torch.float64)
    loss, acc = InfoNCELoss(temperature=tau).forward_with_accuracy(z, torch.tensor(labels))
    ref, ref_acc = supcon_out(z, labels, tau)
    assert loss.item() == pytest.approx(ref, rel=1e-12)
    assert acc.item() == pytest.approx(ref_acc)


def test_call_forms_agree_and_row_order_does_not_matter():
    loss_fn = InfoNCELoss(temperature=0.2)
    z0, z1 = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    pair = loss_fn(z0, z1)
    z, ids = torch.cat([z0, z1]), torch.arange(8).repeat(2)
    torch.testing.assert_close(loss_fn([z0, z1]), pair, rtol=0, atol=0)
    torch.testing.assert_close(loss_fn(z, ids), pair)
    perm = torch.randperm(16)
    torch.testing.assert_close(loss_fn(z[perm], ids[perm] + 100), pair)  # ids are labels, any values


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("n", [2, 7])
def test_identical_embeddings_give_log_2n_minus_1(tau, n):
    z = torch.randn(1, 3).expand(n, 3)  # every embedding is the same vector
    assert InfoNCELoss(temperature=tau)(z, z.clone()).item() == pytest.approx(math.log(2 * n - 1), rel=1e-6)


@pytest.mark.parametrize("tau", TAUS)
def test_orthogonal_one_hot_closed_form(tau):
    n = 6
    z = torch.eye(n, dtype=torch.float64)  # positives equal, negatives orthogonal
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert InfoNCELoss(temperature=tau)(z, z.clone()).item() == pytest.approx(expected, rel=1e-12)


def test_invariant_to_embedding_scale():
    loss_fn = InfoNCELoss(temperature=0.1)
    z0, z1 = torch.randn(8, 5, dtype=torch.float64), torch.randn(8, 5, dtype=torch.float64)
    ref = loss_fn(z0, z1)
    scale = torch.rand(8, 1, dtype=torch.float64) * 100 + 1e-3  # per-row positive scales
    torch.testing.assert_close(loss_fn(z0 * 1e-3, z1 * 1e3), ref)
    torch.testing.assert_close(loss_fn(z0 * scale, z1 * scale.flip(0)), ref)


def test_gradcheck_float64():
    loss_fn = InfoNCELoss(temperature=0.3)
    z0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    z1 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss_fn, (z0, z1))
    z = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 2, 1, 2, 5])
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, labels), (z,))


def test_accuracy_on_constructed_case():
    # samples 0, 1: second view close to the first -> correct; samples 2, 3: second views swapped, so the
    # nearest neighbour of every view of 2 and 3 is a view of the other sample -> wrong. 4 of 8 anchors.
    z0 = torch.eye(4)
    z1 = torch.eye(4)[[0, 1, 3, 2]] + 0.01 * torch.tensor([[1.0, 2, 3, 4]]).T
    loss, acc = InfoNCELoss(temperature=0.1).forward_with_accuracy(z0, z1)
    assert acc.item() == 0.5 and not acc.requires_grad
    _, acc_perfect = InfoNCELoss(temperature=0.1).forward_with_accuracy(z0, z0 + 0.01)
    assert acc_perfect.item() == 1.0


def test_gather_flag_without_process_group_is_single_process():
    z0, z1 = torch.randn(5, 4), torch.randn(5, 4)
    torch.testing.assert_close(InfoNCELoss(gather=True)(z0, z1), InfoNCELoss(gather=False)(z0, z1))


def test_low_precision_inputs_are_scored_in_float32():
    z0, z1 = torch.randn(16, 8), torch.randn(16, 8)
    ref = InfoNCELoss(temperature=0.1)(z0.bfloat16().float(), z1.bfloat16().float())
    loss = InfoNCELoss(temperature=0.1)(z0.bfloat16(), z1.bfloat16())
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast must not push the logits back to bf16
        in_autocast = InfoNCELoss(temperature=0.1)(z0, z1)
    torch.testing.assert_close(in_autocast, InfoNCELoss(temperature=0.1)(z0, z1))


def test_non_finite_inputs_propagate():
    z0, z1 = torch.randn(4, 3), torch.randn(4, 3)
    z0[1, 2] = float("nan")
    assert torch.isnan(InfoNCELoss()(z0, z1))
    z1[0, 0] = float("inf")
    assert not torch.isfinite(InfoNCELoss()(torch.randn(4, 3), z1))


@pytest.mark.parametrize("tau", [0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_temperature(tau):
    with pytest.raises(ValueError, match="temperature"):
        InfoNCELoss(temperature=tau)


def test_too_small_batch_explains_negatives():
    loss_fn = InfoNCELoss()
    with pytest.raises(ValueError, match="at least 2 samples per batch.*increase batch_size"):
        loss_fn(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        loss_fn([torch.randn(1, 4)] * 3)
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        loss_fn(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))  # one id: no negatives
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        loss_fn(torch.randn(1, 3), torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((torch.randn(4, 3), torch.randn(5, 3)), "same shape"),
        ((torch.randn(4, 3), torch.randn(4, 2)), "same shape"),
        ((torch.randn(4), torch.randn(4)), r"\[B, D\]"),
        (([torch.randn(4, 3)],), "at least 2 views"),
        (([torch.randn(4, 3), torch.randn(3, 3)],), "same shape"),
        ((torch.randn(4, 3),), "second view z1"),
        ((torch.randn(4, 3), torch.arange(3)), r"indices \[M\]"),
        ((torch.randn(4, 3), torch.ones(4, dtype=torch.bool)), "integer"),
        ((torch.randn(4, 3), torch.arange(4)), "no positive pairs"),
    ],
)
def test_bad_inputs_raise_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        InfoNCELoss()(*args)
