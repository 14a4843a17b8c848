"""InfoNCE / NT-Xent contrastive loss with multi-positive (SupCon) and cross-rank gathering.

Two-view form (SimCLR, Chen et al. 2020, eq. 1): the ``2B`` embeddings are L2-normalised; for anchor
``i`` with positive ``p(i)`` (the other view of the same sample)::

    ℓ_i = -log( exp(s_{i,p(i)} / τ) / Σ_{a ≠ i} exp(s_{i,a} / τ) ),   s = cosine similarity,

so the ``2B - 2`` other embeddings are the negatives; the loss is the mean over all ``2B`` anchors.

Multi-positive form (multi-view, and supervised contrastive ``L_out`` of Khosla et al. 2020, eq. 2):
every other embedding with the same sample id is a positive and ``ℓ_i`` is the average of
``-log softmax`` over the positives ``P(i)``::

    ℓ_i = logsumexp_{a ≠ i}(s_{i,a} / τ) - (1/|P(i)|) Σ_{p ∈ P(i)} s_{i,p} / τ.

With two views and one id per sample this is exactly the two-view form. Anchors without any positive
(a label seen once in the batch) are left out of the mean.

Across ranks (``gather=True`` and a process group): embeddings are gathered with
:func:`selfsup.nn.distributed.gather_with_grad`, each rank scores only its *local* anchors against all
global candidates (one ``[local_M, global_M]`` matmul), and the returned loss is built so that

- its **value** on every rank is the single-process loss on the concatenated batch, and
- its **gradient**, after DDP's averaging over ranks, is the single-process gradient of that loss
  (each rank back-propagates ``local_sum · W / N_global``; ``(1/W) Σ_r`` of that is the global mean).

Default ``τ = 0.1``: SimCLR's ImageNet setting (Chen et al. 2020, Table 5 sweeps 0.05-1 with LARS at
batch 4096); their CIFAR-10 runs (appendix B.9) favour 0.5 at small batch sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.nn.distributed import (
    all_gather_no_grad,
    all_gather_sizes,
    all_reduce_sum,
    gather_with_grad,
    get_rank,
    get_world_size,
)

_TOO_SMALL = (
    "InfoNCE needs at least 2 samples per batch (the other samples are the negatives), got {n} "
    "across all ranks; increase batch_size"
)


class InfoNCELoss(nn.Module):
    """NT-Xent / InfoNCE loss. Call forms (``D`` = embedding dim; embeddings need not be normalised):

    - ``loss(z0, z1)``: two views ``[B, D]`` each (SimCLR).
    - ``loss([z0, z1, ..., z_{N-1}])``: ``N`` views ``[B, D]`` each; views of sample ``b`` are positives.
    - ``loss(z, indices)``: stacked embeddings ``[M, D]`` and integer sample ids ``[M]``; equal ids are
      positives (SupCon when ``indices`` are class labels). ``indices`` are taken as *global* ids
      (dataset indices or labels) and are not offset per rank; offset per-rank local ids yourself with
      :func:`selfsup.nn.distributed.rank_offset`.

    Returns a scalar. :meth:`forward_with_accuracy` / :meth:`forward_with_metrics` also return the
    contrastive top-1 accuracy (the most similar other embedding is a positive), a standard pretext metric.
    Half-precision embeddings are scored in float32 (autocast is switched off inside). Non-finite inputs
    give a non-finite loss, never a masked one. The indices form validates its ids with one host sync;
    the view forms need none beyond the size exchange when gathering.

    Args:
        temperature: ``τ > 0``; default 0.1 (SimCLR, Chen et al. 2020).
        gather: gather candidates from all ranks when a process group is initialised, so the negatives are
            the whole global batch as in SimCLR. Without a process group it has no effect.
    """

    def __init__(self, temperature: float = 0.1, gather: bool = True) -> None:
        super().__init__()
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ValueError(f"temperature must be a positive float, got {temperature!r}")
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0 (SimCLR uses 0.1), got {temperature}")
        self.temperature = float(temperature)
        self.gather = bool(gather)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather={self.gather}"

    def forward(self, z: Tensor | Sequence[Tensor], other: Tensor | None = None) -> Tensor:
        """Scalar loss; see the class docstring for the call forms."""
        return self._loss(z, other)[0]

    def forward_with_accuracy(
        self, z: Tensor | Sequence[Tensor], other: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(loss, accuracy)``: accuracy is the detached 0-d fraction of anchors (over all ranks when
        gathering) whose most similar other embedding is a positive — the contrastive top-1 accuracy."""
        return self._loss(z, other)

    def forward_with_metrics(
        self, z: Tensor | Sequence[Tensor], other: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, {"accuracy": ...})``, the same numbers as :meth:`forward_with_accuracy`."""
        loss, acc = self._loss(z, other)
        return loss, {"accuracy": acc}

    # -- internals -----------------------------------------------------------------------------------

    def _parse(self, z: Tensor | Sequence[Tensor], other: Tensor | None) -> tuple[Tensor, Tensor | None, int]:
        """Stacked embeddings ``[M, D]``, user ids ``[M]`` (None for view forms) and the number of views."""
        if isinstance(z, (list, tuple)):
            if other is not None:
                raise ValueError("pass either a list of views or (z, other), not both")
            views = list(z)
            if len(views) < 2:
                raise ValueError(f"InfoNCE needs at least 2 views of each sample, got {len(views)}")
            for i, v in enumerate(views):
                if not isinstance(v, Tensor) or v.dim() != 2:
                    raise ValueError(f"view {i} must be a [B, D] tensor, got {_shape(v)}")
                if v.shape != views[0].shape:
                    raise ValueError(
                        f"all views must have the same shape [B, D]: view 0 is {tuple(views[0].shape)}, "
                        f"view {i} is {tuple(v.shape)}"
                    )
            return torch.cat(views), None, len(views)
        if not isinstance(z, Tensor):
            raise ValueError(f"z must be a tensor or a list of tensors, got {type(z).__name__}")
        if other is None:
            raise ValueError("pass a second view z1 [B, D] or sample ids indices [M] along with z")
        if other.is_floating_point():
            if z.dim() != 2 or z.shape != other.shape:
                raise ValueError(
                    f"z0 and z1 must both be [B, D] with the same shape, got {_shape(z)} and {_shape(other)}"
                )
            return torch.cat([z, other]), None, 2
        if other.dtype == torch.bool or other.is_complex():
            raise ValueError(f"indices must be an integer tensor [M], got dtype {other.dtype}")
        if z.dim() != 2 or other.dim() != 1 or other.shape[0] != z.shape[0]:
            raise ValueError(
                f"need z [M, D] and integer indices [M], got z {_shape(z)} and indices {_shape(other)}"
            )
        return z, other.to(z.device), 0

    def _loss(self, z_in: Tensor | Sequence[Tensor], other: Tensor | None) -> tuple[Tensor, Tensor]:
        z, ids, num_views = self._parse(z_in, other)
        distributed = self.gather and get_world_size() > 1
        sizes = all_gather_sizes(z.shape[0], z.device) if distributed else [z.shape[0]]
        rank = get_rank() if distributed else 0
        start = sum(sizes[:rank])  # column of this rank's first row in the gathered candidates
        m, m_all = z.shape[0], sum(sizes)
        if num_views:
            if any(s % num_views for s in sizes):
                raise ValueError(f"every rank must pass {num_views} views of equal batch size")
            if m_all // num_views < 2:
                raise ValueError(_TOO_SMALL.format(n=m_all // num_views))
        elif m_all < 2:
            raise ValueError(_TOO_SMALL.format(n=m_all))
        ids_all = all_gather_no_grad(ids, sizes) if ids is not None and distributed else ids

        # Low-precision logits / τ lose ~2 digits (bf16 at τ = 0.1): score in >= float32, outside autocast.
        if z.dtype in (torch.float16, torch.bfloat16):
            z = z.float()
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = F.normalize(z, dim=1)
            z_all = gather_with_grad(z, sizes) if distributed else z
            logits = z @ z_all.T / self.temperature  # [m, m_all]: the only large matmul
            rows = torch.arange(m, device=z.device)
            # Self-similarity is no candidate. In place: the division does not keep its output for backward.
            logits[rows, rows + start] = float("-inf")
            lse = torch.logsumexp(logits, dim=1)
            top1 = logits.detach().argmax(dim=1)

            if ids is None:
                # View forms: the positives of local row i (view v, sample k of b) are the same sample's
                # other views, all on this rank: columns start + v' b + k for v' != v. No [m, m_all] mask.
                b = m // num_views
                other_views = (rows[:, None] // b + torch.arange(1, num_views, device=z.device)) % num_views
                pos_cols = start + other_views * b + (rows % b)[:, None]  # [m, num_views - 1]
                per_anchor = lse - logits.gather(1, pos_cols).mean(dim=1)
                valid = torch.ones(m, dtype=torch.bool, device=z.device)
                correct = (pos_cols == top1[:, None]).any(dim=1)
            else:
                pos = ids[:, None] == ids_all[None, :]
                pos[rows, rows + start] = False
                n_pos = pos.sum(dim=1)
                valid = n_pos > 0  # anchors whose id occurs once have no positive: left out (SupCon)
                pos_mean = logits.masked_fill(~pos, 0.0).sum(dim=1) / n_pos.clamp(min=1)
                per_anchor = torch.where(valid, lse - pos_mean, torch.zeros_like(lse))
                correct = pos[rows, top1] & valid
            local_sum = per_anchor.sum()
            stats = torch.stack([local_sum.detach(), valid.sum().to(z.dtype), correct.sum().to(z.dtype)])

        if distributed:
            stats = all_reduce_sum(stats)
        n_valid = stats[1].clamp(min=1)
        if ids_all is not None:
            self._check_ids(ids_all, stats[1])
        accuracy = stats[2] / n_valid
        if not distributed:
            return local_sum / n_valid, accuracy
        # Gradient: W · local_sum / N so that DDP's mean over ranks is the global mean (module docstring);
        # value: the global mean itself, identical on every rank.
        surrogate = local_sum * (get_world_size() / n_valid)
        value = stats[0] / n_valid
        return surrogate + (value - surrogate).detach(), accuracy

    @staticmethod
    def _check_ids(ids_all: Tensor, n_valid: Tensor) -> None:
        """Indices form only (one host sync): the global batch needs 2 distinct ids and some positive pair."""
        distinct, has_pos = torch.stack([(ids_all != ids_all[0]).any(), n_valid > 0]).tolist()
        if not distinct:
            raise ValueError(_TOO_SMALL.format(n=1) + " (all indices are equal)")
        if not has_pos:
            raise ValueError(
                "no positive pairs: every id in indices appears only once; pass each sample's id once "
                "per view (e.g. indices = arange(B).repeat(num_views))"
            )


def _shape(x: object) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__
