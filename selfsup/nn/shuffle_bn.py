"""Shuffling BN (MoCo, He et al. 2019, §3.3): the key encoder's batch norm must not see the query's batch.

With batch norm, the query and its positive key computed from the same sub-batch share batch statistics,
which leak which sample is the positive and let the model "cheat" the pretext task (MoCo reports lower
accuracy without shuffling). MoCo shuffles the key batch across GPUs before the key encoder and undoes
the shuffle afterwards, so the statistics a key is normalised with come from a different subset of
samples than its query's.

- One device (:func:`shuffled_forward`): the key batch is permuted and cut into ``groups`` equal parts,
  each forwarded separately (its own batch-norm statistics), and the outputs are put back in input order.
  MoCo's 8-GPU runs normalise keys in groups of 32 out of 256; ``groups = 8`` mirrors that.
- Several ranks (:func:`shuffled_forward_distributed`): the real cross-rank shuffle, as MoCo: gather the
  key images of every rank, apply one random permutation shared by all ranks (drawn on rank 0 and
  broadcast), let each rank encode its slice, gather the encodings and keep this rank's own samples.

The key encoder runs without gradient, so no gradient path through the shuffle is needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor

from selfsup.nn.distributed import all_gather_no_grad, get_rank, get_world_size


def random_permutation(n: int, generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    """A random permutation of ``range(n)`` drawn from ``generator`` (on its device), returned on ``device``."""
    gen_device = generator.device if generator is not None else torch.device(device)
    return torch.randperm(n, generator=generator, device=gen_device).to(device)


def inverse_permutation(perm: Tensor) -> Tensor:
    """``inv`` with ``inv[perm[i]] = i``, so ``x[perm][inv] == x``."""
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel(), device=perm.device)
    return inverse


def shuffled_forward(fn: Callable[[Tensor], Tensor], x: Tensor, groups: int, perm: Tensor) -> Tensor:
    """``fn`` applied to ``x [B, ...]`` in ``groups`` random groups; output rows in the order of ``x``.

    ``perm`` is a permutation of ``range(B)`` (draw it with :func:`random_permutation` when the batch is
    made, so that training stays a pure function of the seed). ``B`` must be divisible by ``groups``
    (equal group sizes, like equal per-GPU batches). ``groups = 1`` is a single call on the shuffled
    batch, which equals ``fn(x)`` for a row-wise ``fn``.
    """
    b = x.shape[0]
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if b % groups:
        raise ValueError(
            f"the key batch of {b} samples cannot be split into {groups} equal shuffle-BN groups; "
            "choose method.shuffle_bn_groups dividing train.batch_size"
        )
    if perm.shape != (b,):
        raise ValueError(f"perm must be a permutation of {b} rows, got shape {tuple(perm.shape)}")
    perm = perm.to(x.device)
    inverse = inverse_permutation(perm)
    shuffled = x[perm]
    out = torch.cat([fn(part) for part in shuffled.chunk(groups)])
    return out[inverse]


def shuffled_forward_distributed(fn: Callable[[Tensor], Tensor], x: Tensor, perm: Tensor) -> Tensor:
    """MoCo's cross-rank batch shuffle: ``fn`` on a random slice of the global batch, own rows returned.

    Every rank passes ``x [B, ...]`` with the same ``B`` and a permutation ``perm`` of ``range(W B)``;
    rank 0's permutation is broadcast and used by all. Returns ``fn``'s output for this rank's own ``x``
    rows, in their order. Without a process group it is ``shuffled_forward(fn, x, 1, perm)``.
    """
    world = get_world_size()
    if world == 1:
        return shuffled_forward(fn, x, 1, perm)
    b = x.shape[0]
    rank = get_rank()
    x_all = all_gather_no_grad(x)  # [W B, ...], rank order
    n = x_all.shape[0]
    if n != world * b:
        raise ValueError("shuffle BN across ranks needs the same batch size on every rank")
    if perm.shape != (n,):
        raise ValueError(f"perm must be a permutation of the {n} global rows, got shape {tuple(perm.shape)}")
    perm = perm.to(x.device, torch.long).contiguous().clone()
    dist.broadcast(perm, src=0)
    inverse = inverse_permutation(perm)
    mine = perm[rank * b : (rank + 1) * b]  # the global rows this rank encodes
    out_all = all_gather_no_grad(fn(x_all[mine]))  # rows in permuted order
    return out_all[inverse[rank * b : (rank + 1) * b]]
