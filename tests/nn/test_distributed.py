"""Distributed helpers: single-process fallbacks, and a 2-rank gloo run checking gather_with_grad's
forward, its summed backward, and that this convention (not the no-reduce one) makes DDP match one process."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from distributed_helpers import run_gloo
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from selfsup.nn.distributed import (
    all_gather_no_grad,
    all_gather_sizes,
    all_reduce_mean,
    all_reduce_sum,
    gather_with_grad,
    get_rank,
    get_world_size,
    is_dist,
    rank_offset,
)

# -- single process ------------------------------------------------------------------------------------


def test_rank_helpers_without_process_group():
    assert not is_dist()
    assert get_rank() == 0 and get_world_size() == 1
    assert rank_offset(16) == 0
    assert all_gather_sizes(5) == [5]
    with pytest.raises(ValueError, match="batch_size"):
        rank_offset(-1)


def test_collectives_are_identity_without_process_group():
    x = torch.randn(4, 3, requires_grad=True)
    y = gather_with_grad(x)
    assert y is x  # identity keeps the graph untouched
    (y * 2).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 2.0))
    g = all_gather_no_grad(x)
    assert not g.requires_grad and torch.equal(g, x.detach())
    assert all_reduce_mean(x) is x and all_reduce_sum(x) is x


# -- two gloo ranks ------------------------------------------------------------------------------------

B, D, W = 4, 5, 2


def _pair_loss(y_local: torch.Tensor, y_all: torch.Tensor) -> torch.Tensor:
    """Mean over local anchors i of logsumexp_j <y_i, y_j>: a loss that couples every pair of samples."""
    return torch.logsumexp(y_local @ y_all.T, dim=1).mean()


class _GatherNoReduce(torch.autograd.Function):
    """The wrong convention, for contrast: backward keeps the own slice without summing over ranks."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def _ddp_grads(rank: int, data: torch.Tensor, gather, loss_kind: str) -> torch.Tensor:
    """Weight gradient of a DDP-wrapped Linear after one backward, flattened."""
    torch.manual_seed(0)
    model = DDP(nn.Linear(D, 3).double())
    y = model(data[rank * B : (rank + 1) * B])
    y_all = gather(y)
    if loss_kind == "local":  # local anchors vs global candidates: (1/W) Σ_r L_r is the global loss
        loss = _pair_loss(y, y_all)
    else:  # every rank computes the whole global loss
        loss = _pair_loss(y_all, y_all)
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.module.parameters()])


def _worker(rank: int, world_size: int, full: torch.Tensor, data: torch.Tensor) -> dict:
    out: dict = {"rank": get_rank(), "world": get_world_size(), "is_dist": is_dist()}
    out["offset"] = rank_offset(B)

    # forward and summed backward: loss_r = <c_r, gathered> with a rank-specific weight c_r
    x = full[rank * B : (rank + 1) * B].clone().requires_grad_(True)
    gathered = gather_with_grad(x)
    out["gathered"] = gathered.detach()
    coeff = torch.arange(W * B * D, dtype=full.dtype).reshape(W * B, D) * (rank + 1)
    (gathered * coeff).sum().backward()
    out["grad"] = x.grad

    # unequal local sizes: rank 0 holds 3 rows, rank 1 holds 5
    sizes = [3, 5]
    start = sum(sizes[:rank])
    xu = full[start : start + sizes[rank]].clone().requires_grad_(True)
    out["sizes"] = all_gather_sizes(xu.shape[0])
    gu = gather_with_grad(xu)
    out["gathered_unequal"] = gu.detach()
    out["gathered_unequal_given_sizes"] = gather_with_grad(xu, sizes).detach()
    (gu * coeff).sum().backward()
    out["grad_unequal"] = xu.grad
    out["no_grad_gather"] = all_gather_no_grad(xu)

    val = torch.tensor([float(rank), 10.0 * rank + 1.0])
    out["mean"] = all_reduce_mean(val)
    out["sum"] = all_reduce_sum(val)
    out["val_untouched"] = val

    # DDP equivalence of the conventions
    for kind in ("local", "global"):
        out[f"ddp_sum_{kind}"] = _ddp_grads(rank, data, gather_with_grad, kind)
        out[f"ddp_noreduce_{kind}"] = _ddp_grads(rank, data, _GatherNoReduce.apply, kind)
    return out


@pytest.fixture(scope="module")
def two_ranks():
    g = torch.Generator().manual_seed(1)
    full = torch.randn(W * B, D, generator=g, dtype=torch.float64)
    data = torch.randn(W * B, D, generator=g, dtype=torch.float64)
    return full, data, run_gloo(_worker, W, full, data, preimport=("torch._dynamo",))


@pytest.mark.multiprocess
def test_rank_helpers_in_group(two_ranks):
    _, _, res = two_ranks
    for r, out in enumerate(res):
        assert out["rank"] == r and out["world"] == W and out["is_dist"]
        assert out["offset"] == r * B
        assert out["sizes"] == [3, 5]


@pytest.mark.multiprocess
def test_gather_forward_is_rank_ordered_concatenation(two_ranks):
    full, _, res = two_ranks
    for out in res:
        torch.testing.assert_close(out["gathered"], full, rtol=0, atol=0)
        torch.testing.assert_close(out["gathered_unequal"], full, rtol=0, atol=0)
        torch.testing.assert_close(out["gathered_unequal_given_sizes"], full, rtol=0, atol=0)
        torch.testing.assert_close(out["no_grad_gather"], full, rtol=0, atol=0)


@pytest.mark.multiprocess
def test_gather_backward_sums_gradients_over_ranks(two_ranks):
    _, _, res = two_ranks
    coeff = torch.arange(W * B * D, dtype=torch.float64).reshape(W * B, D)
    summed = sum(coeff * (r + 1) for r in range(W))  # Σ_r dL_r/d(gathered)
    for r, out in enumerate(res):
        torch.testing.assert_close(out["grad"], summed[r * B : (r + 1) * B])
        start = [0, 3][r]
        torch.testing.assert_close(out["grad_unequal"], summed[start : start + [3, 5][r]])


@pytest.mark.multiprocess
def test_all_reduce_helpers(two_ranks):
    _, _, res = two_ranks
    for out in res:
        torch.testing.assert_close(out["mean"], torch.tensor([0.5, 6.0]))
        torch.testing.assert_close(out["sum"], torch.tensor([1.0, 12.0]))
    assert res[1]["val_untouched"].tolist() == [1.0, 11.0]  # reductions return new tensors


@pytest.mark.multiprocess
def test_summed_backward_makes_ddp_equal_single_process(two_ranks):
    """Single process: the global loss on the concatenated batch. With the SUM convention, DDP's averaged
    gradient matches it whether ranks compute local-anchor losses or the whole loss; no-reduce does not."""
    _, data, res = two_ranks
    torch.manual_seed(0)
    model = nn.Linear(D, 3).double()
    y = model(data)
    _pair_loss(y, y).backward()
    ref = torch.cat([p.grad.flatten() for p in model.parameters()])

    for out in res:
        torch.testing.assert_close(out["ddp_sum_local"], ref)
        torch.testing.assert_close(out["ddp_sum_global"], ref)
        # no-reduce drops the cross-rank terms (local losses) ...
        assert (out["ddp_noreduce_local"] - ref).abs().max() > 1e-3 * ref.abs().max()
        # ... and gives 1/W of the gradient when every rank computes the whole loss
        torch.testing.assert_close(out["ddp_noreduce_global"], ref / W)
