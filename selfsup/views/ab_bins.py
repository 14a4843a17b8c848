"""Quantized ab color space for colorization (Zhang, Isola, Efros 2016, "Colorful Image Colorization").

- ``in_gamut_ab_bins(grid)``: centers ``[Q, 2]`` of the ``grid`` x ``grid`` ab cells (centers at
  multiples of ``grid``, cell ``[c - grid/2, c + grid/2)``) that hold at least one 8-bit sRGB color
  at some lightness. The paper's grid size is 10 and it reports Q = 313; that set came from its
  own gamut estimate ("pts_in_hull"). This exact criterion on the sRGB cube (D65, see
  ``selfsup.views.lab``) gives Q = 261 at grid 10, and the test checks it against a brute-force
  pass over all 256^3 colors.
- ``soft_encode(ab, centers)``: the soft target Z of §2.1: the 5 nearest bins weighted by a
  Gaussian of the distance (sigma 5), normalized to sum 1.
- ``empirical_prior`` / ``rebalance_weights``: class rebalancing (§2.2, eq. 4): the empirical bin
  distribution p, smoothed by a Gaussian of sigma 5 over the bin centers, mixed with the uniform
  distribution with lambda = 0.5, inverted, and normalized so that ``sum_q p~_q w_q = 1``.
- ``annealed_mean(logits, centers, T)``: the decoding of §2.3 (T = 0.38): re-temper the predicted
  distribution with ``exp(log z / T)`` and take its mean.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.views.lab import rgb_to_lab

__all__ = [
    "annealed_mean",
    "bin_index",
    "empirical_prior",
    "in_gamut_ab_bins",
    "rebalance_weights",
    "smooth_prior",
    "soft_encode",
]

GRID = 10.0  # §2.1: "quantize the ab output space into bins with grid size 10"
SOFT_NEIGHBORS = 5  # §2.1: 5 nearest neighbours
SOFT_SIGMA = 5.0  # §2.1: Gaussian kernel sigma = 5
PRIOR_SIGMA = 5.0  # §2.2: prior smoothed with a Gaussian kernel, sigma = 5
REBALANCE_LAMBDA = 0.5  # §2.2: lambda = 1/2
ANNEAL_T = 0.38  # §2.3: T = 0.38


def _cell(ab: Tensor, grid: float) -> Tensor:
    """Integer cell index ``[..., 2]`` of ab values ``[..., 2]`` (cell ``[c - grid/2, c + grid/2)``)."""
    return torch.floor(ab / grid + 0.5).long()


def _srgb_samples(levels: int = 256, interior: int = 33) -> Tensor:
    """sRGB colors in [0, 1] ``[3, N]``: the cube's 6 faces at ``levels`` steps plus a coarse interior.

    The boundary of the gamut's ab projection comes from the cube's surface (the map is smooth
    and the interior maps into the interior away from rank drops), and interior cells are covered
    many times by the coarse interior grid; the test checks the union against all 256^3 colors.
    """
    g = torch.linspace(0, 1, levels, dtype=torch.float32)
    u, v = torch.meshgrid(g, g, indexing="ij")
    u, v = u.flatten(), v.flatten()
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            cols = [u, v]
            cols.insert(axis, torch.full_like(u, value))
            faces.append(torch.stack(cols))
    c = torch.linspace(0, 1, interior, dtype=torch.float32)
    cube = torch.stack([t.flatten() for t in torch.meshgrid(c, c, c, indexing="ij")])
    return torch.cat([*faces, cube], dim=1)


@functools.lru_cache(maxsize=8)
def _gamut_bins(grid: float) -> Tensor:
    rgb = _srgb_samples()
    ab = rgb_to_lab(rgb.view(3, 1, -1))[1:].reshape(2, -1).T  # [N, 2]
    cells = _cell(ab, grid)
    offset = int(cells.abs().max()) + 1
    codes = torch.unique((cells[:, 0] + offset) * (2 * offset + 1) + cells[:, 1] + offset)  # sorted (a, b)
    a, b = codes // (2 * offset + 1) - offset, codes % (2 * offset + 1) - offset
    return torch.stack((a, b), dim=1).to(torch.float32) * grid


def in_gamut_ab_bins(grid: float = GRID) -> Tensor:
    """Centers ``[Q, 2]`` (float32, sorted by a then b) of the in-gamut ab cells of side ``grid``."""
    if not grid > 0:
        raise ValueError(f"grid must be > 0 (ab units; the paper uses 10), got {grid}")
    return _gamut_bins(float(grid)).clone()


def _flat_ab(ab: Tensor) -> Tensor:
    """``[B, 2, H, W]`` -> ``[B*H*W, 2]`` (or pass ``[N, 2]`` through)."""
    if ab.ndim == 4 and ab.shape[1] == 2:
        return ab.permute(0, 2, 3, 1).reshape(-1, 2)
    if ab.ndim == 2 and ab.shape[1] == 2:
        return ab
    raise ValueError(f"ab must have shape [B, 2, H, W] or [N, 2], got {tuple(ab.shape)}")


def bin_index(ab: Tensor, centers: Tensor) -> Tensor:
    """Nearest bin of each ab value: ``[B, 2, H, W] -> [B, H, W]`` (or ``[N, 2] -> [N]``) long."""
    flat = _flat_ab(ab)
    idx = torch.cdist(flat.float(), centers.to(flat.device).float()).argmin(dim=1)
    return idx.view(ab.shape[0], *ab.shape[2:]) if ab.ndim == 4 else idx


def soft_encode(
    ab: Tensor, centers: Tensor, neighbors: int = SOFT_NEIGHBORS, sigma: float = SOFT_SIGMA
) -> Tensor:
    """Soft targets Z: ab ``[B, 2, H, W]`` -> ``[B, Q, H, W]`` (or ``[N, 2] -> [N, Q]``), rows sum to 1.

    Each value puts Gaussian weights ``exp(-d^2 / (2 sigma^2))`` on its ``neighbors`` nearest bins.
    """
    if not 1 <= neighbors <= centers.shape[0]:
        raise ValueError(f"neighbors must be in [1, {centers.shape[0]}], got {neighbors}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    flat = _flat_ab(ab).float()
    d = torch.cdist(flat, centers.to(flat.device).float())  # [N, Q]
    dist, idx = d.topk(neighbors, dim=1, largest=False)
    w = torch.softmax(-(dist**2) / (2 * sigma**2), dim=1)  # normalized Gaussian weights
    z = torch.zeros_like(d).scatter_(1, idx, w)
    if ab.ndim == 4:
        b, _, h, wd = ab.shape
        return z.view(b, h, wd, -1).permute(0, 3, 1, 2)
    return z


def empirical_prior(ab: Tensor, centers: Tensor) -> Tensor:
    """Counts of nearest bins ``[Q]`` (float) over all ab values ``[B, 2, H, W]`` (or ``[N, 2]``)."""
    idx = bin_index(ab, centers).flatten()
    return torch.bincount(idx, minlength=centers.shape[0]).to(torch.float32)


def smooth_prior(counts: Tensor, centers: Tensor, sigma: float = PRIOR_SIGMA) -> Tensor:
    """Gaussian-smoothed (over the bin centers, ``sigma`` in ab units) distribution ``[Q]``, sums to 1."""
    if counts.ndim != 1 or counts.shape[0] != centers.shape[0]:
        raise ValueError(f"counts must be [Q={centers.shape[0]}], got {tuple(counts.shape)}")
    if float(counts.sum()) <= 0:
        raise ValueError("counts are all zero; estimate the prior from at least one image")
    c = centers.to(counts.device).float()
    kernel = torch.exp(-(torch.cdist(c, c) ** 2) / (2 * sigma**2))  # [Q, Q]
    p = kernel @ (counts.float() / counts.sum())
    return p / p.sum()


def rebalance_weights(prior: Tensor, lam: float = REBALANCE_LAMBDA) -> Tensor:
    """Eq. 4: ``w ∝ ((1 - lam) p + lam / Q)^-1`` with ``sum_q p_q w_q = 1``; ``prior`` ``[Q]`` sums to 1."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1] (the paper uses 0.5), got {lam}")
    q = prior.shape[0]
    w = 1.0 / ((1.0 - lam) * prior + lam / q)
    return w / (prior * w).sum()


def annealed_mean(logits: Tensor, centers: Tensor, temperature: float = ANNEAL_T) -> Tensor:
    """Logits ``[B, Q, H, W]`` -> ab ``[B, 2, H, W]``: mean of ``softmax(logits) ** (1/T)`` renormalized.

    ``exp(log z / T) / sum exp(log z / T)`` equals ``softmax(logits / T)``; T = 1 is the mean, T -> 0
    the mode.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (the paper uses 0.38), got {temperature}")
    p = F.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, centers.to(p.device).float())
