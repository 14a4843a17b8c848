"""A FIFO queue of negative keys with a write pointer (MoCo, He et al. 2019, §3.2).

MoCo decouples the number of negatives from the batch size: the keys of each batch are enqueued and
the oldest keys are dequeued, so the queue holds the ``K`` most recent keys (``K = 65,536`` in the
paper). The queue is a registered buffer (it is saved in checkpoints and moves with ``.to()``) and
starts as random unit vectors, as in MoCo's reference setup. Before enqueueing, the keys of every
rank are gathered in rank order, so all ranks hold identical queues.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.nn.distributed import all_gather_no_grad


class KeyQueue(nn.Module):
    """``K`` keys of dimension ``D`` in a ring buffer; ``enqueue`` overwrites the oldest entries.

    Buffers: ``keys [K, D]`` (row ``i`` is slot ``i``), ``ptr`` (0-d long: the slot the next key goes
    to, which is also the oldest key once the queue has wrapped) and ``filled`` (0-d long: number of
    real keys written so far, capped at ``K``; the rest are the random initial keys).

    Args:
        size: ``K``, the number of keys (MoCo: 65,536). Keep it below the number of training images,
            or the queue holds stale keys of the image being scored.
        dim: key dimension ``D`` (MoCo: 128).
        normalize_init: start from random unit vectors (MoCo) rather than zeros.
    """

    keys: Tensor
    ptr: Tensor
    filled: Tensor

    def __init__(self, size: int, dim: int, normalize_init: bool = True) -> None:
        super().__init__()
        for name, value in (("size", size), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"KeyQueue {name} must be a positive int, got {value!r}")
        init = F.normalize(torch.randn(size, dim), dim=1) if normalize_init else torch.zeros(size, dim)
        self.register_buffer("keys", init)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return int(self.keys.shape[0])

    @property
    def dim(self) -> int:
        return int(self.keys.shape[1])

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"

    @torch.no_grad()
    def enqueue(self, keys: Tensor, gather: bool = True) -> None:
        """Append ``keys [B, D]`` (detached) at the pointer, wrapping around; the oldest keys are overwritten.

        With ``gather`` and a process group, every rank's keys are first gathered in rank order, so each
        rank writes the same ``Σ_r B_r`` keys at the same place. If more than ``K`` keys arrive at once only
        the last ``K`` are kept (as if enqueued one batch after another).
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be [B, {self.dim}], got {tuple(keys.shape)}")
        keys = all_gather_no_grad(keys) if gather else keys.detach()
        n = keys.shape[0]
        if n == 0:
            return
        k = self.size
        ptr = int(self.ptr)
        if n > k:
            ptr = (ptr + n - k) % k
            keys = keys[n - k :]
            n = k
        keys = keys.to(self.keys.dtype)
        first = min(n, k - ptr)
        self.keys[ptr : ptr + first] = keys[:first]
        if first < n:  # wrap around to the start
            self.keys[: n - first] = keys[first:]
        self.ptr.fill_((ptr + n) % k)
        self.filled.fill_(min(k, int(self.filled) + n))

    def ordered(self) -> Tensor:
        """The real keys oldest first, ``[filled, D]`` (for inspection and tests; the loss uses ``keys``)."""
        ptr, n = int(self.ptr), int(self.filled)
        if n < self.size:
            return self.keys[:n].clone()
        return torch.cat([self.keys[ptr:], self.keys[:ptr]])

    def forward(self) -> Tensor:
        """The whole queue ``[K, D]`` (slot order; the order does not matter to a contrastive loss)."""
        return self.keys
