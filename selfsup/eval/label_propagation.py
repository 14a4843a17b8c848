"""Semi-supervised label propagation through frozen per-patch features (DINO's DAVIS protocol).

For each target frame t >= 1 and each of its patches i (Caron et al. 2021, §4.2 / Appendix, following
Jabri et al. 2020's space-time correspondence protocol):

- sources: every patch j of the context frames, the first frame (its given mask) and the
  ``n_recent`` = 7 most recent frames (their propagated soft labels);
- affinity ``A_ij = exp(<f_i, f_j> / temperature)`` with L2-normalized features (cosine) and
  temperature 0.1, restricted to sources whose patch position lies within ``radius`` = 12 patches
  of i in both directions (a square window, as DINO's ``size_mask_neighborhood``);
- only the ``topk`` = 5 largest affinities over all context sources are kept and normalized to sum
  to one; the target's label is the weighted average of those sources' soft labels.

The same pointer, with unnormalized embeddings and temperature 1 (a softmax over dot products),
is how video colorization copies colors and propagates masks (Vondrick et al. 2018, eq. 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

# DINO's defaults for DAVIS 2017 (eval_video_segmentation.py arguments, paper Appendix)
TEMPERATURE = 0.1
TOPK = 5
RADIUS = 12
N_RECENT = 7
_CHUNK = 1024  # target patches per affinity block: bounds memory at chunk x (1 + n_recent) x N floats


def neighbourhood_mask(h: int, w: int, radius: int | None, device: torch.device | None = None) -> Tensor:
    """bool ``[h*w, h*w]``: True where patch j (column) is within ``radius`` rows and columns of i (row)."""
    n = h * w
    if radius is None:
        return torch.ones(n, n, dtype=torch.bool, device=device)
    ys = torch.arange(h, device=device).repeat_interleave(w)
    xs = torch.arange(w, device=device).repeat(h)
    return ((ys[:, None] - ys[None, :]).abs() <= radius) & ((xs[:, None] - xs[None, :]).abs() <= radius)


def propagate_step(
    target: Tensor,
    context: Tensor,
    context_labels: Tensor,
    grid: tuple[int, int],
    temperature: float = TEMPERATURE,
    topk: int | None = TOPK,
    radius: int | None = RADIUS,
) -> Tensor:
    """Soft labels ``[N, L]`` of ``target`` patches ``[N, D]`` from ``context`` ``[C, N, D]`` labelled
    ``context_labels`` ``[C, N, L]`` (features already normalized as the caller wants)."""
    c, n, d = context.shape
    if target.shape != (n, d) or context_labels.shape[:2] != (c, n) or grid[0] * grid[1] != n:
        raise ValueError(
            f"target {tuple(target.shape)}, context {tuple(context.shape)}, labels "
            f"{tuple(context_labels.shape)} and grid {grid} disagree (need [N, D], [C, N, D], [C, N, L], h*w=N)"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    allowed = neighbourhood_mask(*grid, radius, device=target.device)  # [N, N]
    flat_context = context.reshape(c * n, d)
    flat_labels = context_labels.reshape(c * n, -1)
    out = []
    for s in range(0, n, _CHUNK):
        logits = (target[s : s + _CHUNK] @ flat_context.T / temperature).view(-1, c, n)
        logits = logits.masked_fill(~allowed[s : s + _CHUNK, None, :], float("-inf")).flatten(1)
        k = logits.shape[1] if topk is None else min(topk, logits.shape[1])
        values, index = logits.topk(k, dim=1)
        weights = torch.softmax(values, dim=1)  # exp(a / T) normalized over the kept sources
        weights = torch.nan_to_num(weights)  # rows whose window holds < k sources keep only finite ones
        out.append((weights[..., None] * flat_labels[index]).sum(1))
    return torch.cat(out)


def propagate_labels(
    features: Tensor,
    first_labels: Tensor,
    temperature: float = TEMPERATURE,
    topk: int | None = TOPK,
    radius: int | None = RADIUS,
    n_recent: int = N_RECENT,
    normalize: bool = True,
) -> Tensor:
    """Propagate frame 0's soft labels ``[L, h, w]`` through features ``[T, h, w, D]`` -> ``[T, L, h, w]``.

    ``normalize``: L2-normalize features first (cosine affinity, DINO); False uses raw dot products
    (the colorization pointer). Frame 0 of the output is ``first_labels`` itself.
    """
    if features.ndim != 4 or first_labels.ndim != 3 or features.shape[1:3] != first_labels.shape[1:]:
        raise ValueError(
            f"features must be [T, h, w, D] and first_labels [L, h, w] on the same grid, got "
            f"{tuple(features.shape)} and {tuple(first_labels.shape)}"
        )
    if n_recent < 0:
        raise ValueError(f"n_recent must be >= 0, got {n_recent}")
    t, h, w, d = features.shape
    feats = features.reshape(t, h * w, d).float()
    if normalize:
        feats = torch.nn.functional.normalize(feats, dim=-1)
    labels = [first_labels.reshape(first_labels.shape[0], -1).T.float()]  # [N, L] per frame
    for i in range(1, t):
        recent = list(range(max(1, i - n_recent), i))
        ctx = [0, *recent]
        labels.append(
            propagate_step(
                feats[i], feats[ctx], torch.stack([labels[j] for j in ctx]), (h, w), temperature, topk, radius
            )
        )
    return torch.stack(labels).transpose(1, 2).reshape(t, -1, h, w)
