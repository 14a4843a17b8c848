"""Distributed helpers: rank queries, reductions and an all-gather that carries gradients.

Everything here works without an initialised process group (one process): the rank is 0, the world
size 1, gathers are the identity and reductions are no-ops, so losses call these unconditionally.

Gradient convention of :func:`gather_with_grad`
-----------------------------------------------
Rank ``r`` holds ``x_r = f_θ(data_r)`` and computes a loss ``L_r`` from the *gathered* tensor
``[x_1; …; x_W]``, so ``L_r`` depends on every rank's ``x_s``. DDP (and FSDP) average parameter
gradients over ranks. For the averaged gradient to be ``∇θ L̄`` with ``L̄ = (1/W) Σ_r L_r``, rank ``s``
must back-propagate ``∂(Σ_r L_r)/∂x_s = Σ_r ∂L_r/∂x_s`` into its encoder. ``∂L_r/∂x_s`` is what arrives at
slice ``s`` of the gathered tensor on rank ``r``, so the backward is: **all-reduce (SUM) the incoming
gradient, keep the own slice**. DDP's average then yields ``∇θ (1/W) Σ_r L_r``.

Hence DDP training equals single-process training on the concatenated batch iff ``(1/W) Σ_r L_r`` is the
global loss. Two ways satisfy this: every rank computes the loss of its *local* anchors against all
gathered candidates, scaled ``W / N_global`` (= the local mean when all ranks have equal batches) —
what :class:`selfsup.losses.InfoNCELoss` does, and the cheap option — or every rank computes the whole
global loss redundantly. Keeping only the local slice *without* the all-reduce would be wrong in both
cases: it drops the cross-rank terms ``∂L_r/∂x_s, r ≠ s`` in the first and gives ``1/W`` of the
gradient in the second (``tests/nn/test_distributed.py`` checks both against DDP).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor


def is_dist() -> bool:
    """True when ``torch.distributed`` is available and a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """Rank of this process in the default group; 0 without a process group."""
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    """Number of processes in the default group; 1 without a process group."""
    return dist.get_world_size() if is_dist() else 1


def rank_offset(batch_size: int) -> int:
    """``rank * batch_size``: add it to local ids ``arange(batch_size)`` to make them globally unique.

    Assumes every rank has ``batch_size`` samples (what ``DistributedSampler`` gives).
    """
    if batch_size < 0:
        raise ValueError(f"batch_size must be >= 0, got {batch_size}")
    return get_rank() * batch_size


def all_gather_sizes(n: int, device: torch.device | str = "cpu") -> list[int]:
    """Every rank's ``n`` (e.g. its local batch size), in rank order; ``[n]`` without a process group.

    One tiny collective plus a device-to-host copy; pass the result to :func:`gather_with_grad` /
    :func:`all_gather_no_grad` so a loss that gathers several tensors exchanges sizes only once.
    """
    if get_world_size() == 1:
        return [int(n)]
    t = torch.tensor([int(n)], dtype=torch.long, device=device)
    out = [torch.zeros_like(t) for _ in range(get_world_size())]
    dist.all_gather(out, t)
    return [int(v) for v in torch.cat(out).tolist()]


def _check_sizes(x: Tensor, sizes: Sequence[int] | None) -> list[int]:
    if sizes is None:
        return all_gather_sizes(x.shape[0], x.device)
    sizes = [int(s) for s in sizes]
    if len(sizes) != get_world_size():
        raise ValueError(f"sizes must have one entry per rank ({get_world_size()}), got {len(sizes)}")
    if sizes[get_rank()] != x.shape[0]:
        raise ValueError(
            f"sizes[{get_rank()}]={sizes[get_rank()]} does not match this rank's x.shape[0]={x.shape[0]}"
        )
    return sizes


def _all_gather_raw(x: Tensor, sizes: list[int]) -> Tensor:
    """Concatenate every rank's ``x`` along dim 0 (no autograd); pads when local sizes differ."""
    x = x.contiguous()
    max_n = max(sizes)
    if x.shape[0] < max_n:  # all_gather needs equal shapes: pad, gather, then cut the padding off
        pad = x.new_zeros((max_n - x.shape[0], *x.shape[1:]))
        x = torch.cat([x, pad])
    parts = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(parts, x)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, sizes: list[int]) -> Tensor:  # type: ignore[override]
        rank = get_rank()
        ctx.start = sum(sizes[:rank])
        ctx.n = sizes[rank]
        return _all_gather_raw(x, sizes)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        # Sum over ranks of dL_r/d(slice s): see the module docstring for why SUM is the DDP-exact choice.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.start : ctx.start + ctx.n], None


def gather_with_grad(x: Tensor, sizes: Sequence[int] | None = None) -> Tensor:
    """All-gather ``x [B, ...]`` → ``[Σ_r B_r, ...]`` (rank order) with gradients flowing back to every rank.

    Backward returns the incoming gradient of the local slice **summed over ranks** (module docstring).
    Local batch sizes may differ between ranks. ``sizes`` (every rank's ``B``, from
    :func:`all_gather_sizes`) skips the size exchange. Identity without a process group or with one rank.
    """
    if get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x, _check_sizes(x, sizes))


def all_gather_no_grad(x: Tensor, sizes: Sequence[int] | None = None) -> Tensor:
    """All-gather ``x [B, ...]`` → ``[Σ_r B_r, ...]``, detached (ids, labels, queue keys).

    Returns ``x.detach()`` without a process group.
    """
    if get_world_size() == 1:
        return x.detach()
    with torch.no_grad():
        return _all_gather_raw(x.detach(), _check_sizes(x, sizes))


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of ``x`` over ranks, as a new detached tensor (for logging metrics); ``x`` itself without a group."""
    if get_world_size() == 1:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / get_world_size()


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of ``x`` over ranks, as a new detached tensor; ``x`` itself without a process group."""
    if get_world_size() == 1:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y
