"""Label-free quality signals of an embedding: RankMe, alignment, uniformity, embedding std.

They need no labels, so they can be logged during every run and computed offline on any
encoder. What good values look like (D = embedding width, N = number of samples):

- ``rankme`` (Garrido et al. 2023, "RankMe"): the effective rank ``exp(H(p))`` of the embedding
  matrix, ``p_k = sigma_k / sum(sigma) + eps`` from its singular values. In ``[1, min(N, D)]``.
  A collapsed encoder gives ~1 (all embeddings on one line); dimensional collapse shows as a
  rank far below D; higher correlates with better linear-probe accuracy across runs of one method.
- ``alignment`` (Wang & Isola 2020, eq. 4, alpha = 2): mean ``||f(x) - f(y)||^alpha`` over
  positive pairs of L2-normalized embeddings. 0 = the two views map to the same point (good, if
  uniformity is also good); 4 (alpha = 2) = antipodal.
- ``uniformity`` (Wang & Isola 2020, eq. 5, t = 2): ``log mean_{i != j} exp(-t ||f_i - f_j||^2)``
  over L2-normalized embeddings. 0 = all points identical (collapse); lower = more spread out.
  Points spread uniformly on S^{D-1} approach ``-2t`` for large D (e.g. about -3.9 at D = 128).
- ``embedding_std`` (as in SimSiam, Chen & He 2021, Fig. 2): mean per-dimension std of the
  L2-normalized embeddings. 0 = collapse; ``1 / sqrt(D)`` = spread isotropically on the sphere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.monitors.collapse import embedding_std as batch_embedding_std

RANKME_EPS = 1e-7  # Garrido et al. 2023, eq. 1


def _check_embeddings(z: Tensor, name: str, min_rows: int = 1) -> Tensor:
    if not isinstance(z, Tensor) or z.ndim != 2:
        shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(f"{name} must be a 2-D tensor [N, D] of embeddings, got {shape}")
    if z.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {z.shape[0]}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"{name} contains NaN or inf; check the encoder's outputs")
    return z.double()


def rankme(z: Tensor, eps: float = RANKME_EPS) -> float:
    """Effective rank of embeddings ``[N, D]`` (not normalized, as in the paper), in [1, min(N, D)]."""
    z = _check_embeddings(z, "z")
    sigma = torch.linalg.svdvals(z)
    if float(sigma.sum()) == 0.0:
        return 1.0
    p = sigma / sigma.sum() + eps
    return float(torch.exp(-(p * torch.log(p)).sum()))


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2.0) -> float:
    """Mean ``||z1_i - z2_i||^alpha`` of L2-normalized positive pairs ``[N, D]``, in [0, 2^alpha]."""
    a, b = _check_embeddings(z1, "z1"), _check_embeddings(z2, "z2")
    if a.shape != b.shape:
        raise ValueError(
            f"z1 and z2 must be paired views of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return float((F.normalize(a, dim=1) - F.normalize(b, dim=1)).norm(dim=1).pow(alpha).mean())


def uniformity(z: Tensor, t: float = 2.0) -> float:
    """``log mean_{i != j} exp(-t ||z_i - z_j||^2)`` over L2-normalized ``[N, D]``, in [-4t, 0]."""
    z = F.normalize(_check_embeddings(z, "z", min_rows=2), dim=1)
    sq = torch.pdist(z).pow(2)  # the N(N-1)/2 distinct pairs; symmetric, so the mean is the same
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel()))


def embedding_std(z: Tensor) -> float:
    """Mean over dimensions of the std of L2-normalized embeddings ``[N, D]``; 1/sqrt(D) when isotropic.

    The float of ``selfsup.monitors.collapse.embedding_std``, the tensor the training monitors log.
    """
    _check_embeddings(z, "z", min_rows=2)
    return float(batch_embedding_std(z))


def quality_signals(z: Tensor, z_pair: Tensor | None = None) -> dict[str, float]:
    """All label-free signals of ``z`` ``[N, D]`` (alignment only when paired views ``z_pair`` are given)."""
    out = {"rankme": rankme(z), "uniformity": uniformity(z), "embedding_std": embedding_std(z)}
    if z_pair is not None:
        out["alignment"] = alignment(z, z_pair)
    return out
