"""CPC's InfoNCE over a candidate set (van den Oord, Li, Vinyals 2018, "Representation Learning with
Contrastive Predictive Coding", eq. 4).

Each prediction ``p_n`` (``W_k c_t``) is scored against every candidate latent ``z_m`` of the batch —
the true future latent and, as negatives, the latents of other positions and other samples — and the
loss is the cross-entropy of the true one::

    ℓ_n = −log( exp(s(p_n, z_{t_n})) / Σ_m exp(s(p_n, z_m)) ),

with ``s`` the bilinear score ``p·z`` of the paper (``f_k = exp(z^T W_k c)``) or, with a temperature,
the cosine similarity over τ (a common stabiliser on small models).

Across processes the candidates of every rank are gathered (with gradient for the local rows), so the
negatives are the global batch's, as in SimCLR and CLIP: with DDP, ranks holding B images each give the
same loss and gradients as one process holding all of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.nn.distributed import gather_with_grad, rank_offset


def cpc_info_nce(
    predictions: Tensor, candidates: Tensor, targets: Tensor, temperature: float | None = None
) -> tuple[Tensor, Tensor]:
    """``(loss, accuracy)`` for predictions ``[N, D]``, candidates ``[M, D]`` and target rows ``[N]``.

    ``targets[n]`` is the row of this rank's ``candidates`` that prediction ``n`` should rank first;
    under DDP it is shifted to that row of the gathered candidates. The accuracy (detached) is the
    fraction whose true candidate scores highest, CPC's pretext metric.
    """
    if predictions.dim() != 2 or candidates.dim() != 2 or predictions.shape[1] != candidates.shape[1]:
        raise ValueError(
            f"predictions [N, D] and candidates [M, D] need the same D, got {tuple(predictions.shape)} "
            f"and {tuple(candidates.shape)}"
        )
    if targets.shape != (predictions.shape[0],):
        raise ValueError(f"targets must be [N={predictions.shape[0]}], got {tuple(targets.shape)}")
    targets = targets + rank_offset(candidates.shape[0])
    p, z = predictions.float(), gather_with_grad(candidates.float())
    if temperature is not None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 or None, got {temperature}")
        p, z = F.normalize(p, dim=1), F.normalize(z, dim=1)
    logits = p @ z.T  # [N, M]
    if temperature is not None:
        logits = logits / temperature
    loss = F.cross_entropy(logits, targets)
    with torch.no_grad():
        accuracy = (logits.argmax(dim=1) == targets).float().mean()
    return loss, accuracy
