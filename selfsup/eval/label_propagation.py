"""Semi-supervised label propagation through frozen per-patch features (DINO's DAVIS protocol).

Caron et al. 2021 (§4.2, Appendix), following Jabri et al. 2020; every step and default is the one
of DINO's ``eval_video_segmentation.py`` (line numbers of that script in brackets):

- sources for target frame t >= 1: every patch of the context frames, the first frame (its given
  one-hot labels) and the ``n_recent`` = 7 most recent frames (their propagated soft labels, before
  any normalization) [``--n_last_frames 7``, the queue of lines 46-71];
- affinity ``exp(<f_i, f_j> / 0.1)`` between L2-normalized features (cosine) [line 125-129],
  restricted to sources whose patch row and column both lie within ``radius`` = 12 patches of the
  target's (a square window; 0 disables it) [``--size_mask_neighborhood 12``, lines 85-99, 131];
- over all context sources together, every affinity below the ``topk`` = 5-th largest is zeroed
  (ties with it are kept) and the rest normalized to sum to one [``--topk 5``, lines 137-142];
- the target's soft labels are the weighted sum of the kept sources' labels [lines 144-148];
- output: the soft labels are upsampled bilinearly by the patch size (to the network's input
  resolution), each object channel min-max normalized (``norm_mask``), arg-maxed, and the id map
  resized to the frame with nearest neighbour [lines 74-80, 102-110] (``labels_to_ids``).

The same pointer with unnormalized embeddings and temperature 1 (a softmax over dot products) is how
video colorization copies colours and propagates masks (Vondrick et al. 2018, eq. 1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

# DINO's defaults for DAVIS 2017 (eval_video_segmentation.py arguments and line 129)
TEMPERATURE = 0.1
TOPK = 5
RADIUS = 12
N_RECENT = 7
_TILE = 8  # target patches per side of one affinity block (its sources: the union of their windows)


def neighbourhood_mask(h: int, w: int, radius: int | None, device: torch.device | None = None) -> Tensor:
    """bool ``[h*w, h*w]``: True where patch j (column) is within ``radius`` rows and columns of i (row).

    ``radius`` None or <= 0: every pair (DINO applies no mask when ``size_mask_neighborhood`` is 0).
    """
    n = h * w
    if radius is None or radius <= 0:
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
    ``context_labels`` ``[C, N, L]`` (features already normalized as the caller wants).

    ``topk`` None keeps every source of the window.
    """
    c, n, d = context.shape
    if target.shape != (n, d) or context_labels.shape[:2] != (c, n) or grid[0] * grid[1] != n:
        raise ValueError(
            f"target {tuple(target.shape)}, context {tuple(context.shape)}, labels "
            f"{tuple(context_labels.shape)} and grid {grid} disagree (need [N, D], [C, N, D], [C, N, L], h*w=N)"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if topk is not None and topk < 1:
        raise ValueError(f"topk must be >= 1 (or None for all sources), got {topk}")
    h, w = grid
    reach = radius if radius is not None and radius > 0 else max(h, w)  # no window: the whole grid
    frames = context.reshape(c, h, w, d)
    frame_labels = context_labels.reshape(c, h, w, -1).float()
    queries = target.reshape(h, w, d)
    out = torch.empty(h, w, frame_labels.shape[-1], dtype=frame_labels.dtype, device=target.device)
    # Tile the target grid; a tile's sources are the context patches within ``reach`` of any of its
    # patches, so each target meets ~(tile + 2 reach)^2 sources per frame instead of all h * w.
    for y0 in range(0, h, _TILE):
        y1, sy0, sy1 = min(y0 + _TILE, h), max(0, y0 - reach), min(h, y0 + _TILE + reach)
        rows = _within(y0, y1, sy0, sy1, reach, target.device)  # [ty, sy]
        for x0 in range(0, w, _TILE):
            x1, sx0, sx1 = min(x0 + _TILE, w), max(0, x0 - reach), min(w, x0 + _TILE + reach)
            cols = _within(x0, x1, sx0, sx1, reach, target.device)  # [tx, sx]
            allowed = (rows[:, None, :, None] & cols[None, :, None, :]).flatten(2).flatten(0, 1)  # [B, S]
            q = queries[y0:y1, x0:x1].reshape(-1, d)
            sources = frames[:, sy0:sy1, sx0:sx1].reshape(-1, d)  # [C * S, D]
            logits = (q @ sources.T / temperature).view(q.shape[0], c, -1)
            # Outside the window DINO multiplies the affinity by 0: a weight of exactly 0 (logit -inf).
            logits = logits.masked_fill(~allowed[:, None, :], float("-inf")).flatten(1)
            if topk is not None and topk < logits.shape[1]:
                # DINO zeroes the affinities *below* the k-th largest, so ties with it stay in; when the
                # window holds fewer than k sources the k-th is -inf and every in-window source stays.
                kth = logits.topk(topk, dim=1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            # exp(a / T) normalized over the kept sources (the row maximum is subtracted first, which
            # cancels in the ratio and keeps raw dot products at temperature 1 from overflowing).
            weights = torch.softmax(logits, dim=1)
            window_labels = frame_labels[:, sy0:sy1, sx0:sx1].reshape(weights.shape[1], -1)
            out[y0:y1, x0:x1] = (weights @ window_labels).view(y1 - y0, x1 - x0, -1)
    return out.reshape(n, -1)


def _within(t0: int, t1: int, s0: int, s1: int, reach: int, device: torch.device) -> Tensor:
    """bool ``[t1 - t0, s1 - s0]``: source coordinate ``s`` within ``reach`` of target coordinate ``t``."""
    t = torch.arange(t0, t1, device=device)
    s = torch.arange(s0, s1, device=device)
    return (t[:, None] - s[None, :]).abs() <= reach


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
        feats = F.normalize(feats, dim=-1)
    labels = [first_labels.reshape(first_labels.shape[0], -1).T.float()]  # [N, L] per frame
    for i in range(1, t):
        ctx = [0, *range(max(1, i - n_recent), i)]
        labels.append(
            propagate_step(
                feats[i], feats[ctx], torch.stack([labels[j] for j in ctx]), (h, w), temperature, topk, radius
            )
        )
    return torch.stack(labels).transpose(1, 2).reshape(t, -1, h, w)


def norm_mask(probs: Tensor) -> Tensor:
    """DINO's ``norm_mask`` of one frame's label maps ``[L, H, W]``: each channel whose maximum is > 0
    is shifted to minimum 0 and divided by its new maximum; other channels are left as they are.

    A constant positive channel becomes NaN (0 / 0), as in the script, and then wins the arg-max.
    """
    if probs.ndim != 3:
        raise ValueError(f"norm_mask needs label maps [L, H, W], got shape {tuple(probs.shape)}")
    shifted = probs - probs.amin(dim=(1, 2), keepdim=True)
    scaled = shifted / shifted.amax(dim=(1, 2), keepdim=True)
    return torch.where(probs.amax(dim=(1, 2), keepdim=True) > 0, scaled, probs)


def labels_to_ids(
    probs: Tensor, size: tuple[int, int], patch_size: int | None = None, normalize: bool = True
) -> Tensor:
    """One frame's soft labels ``[L, h, w]`` -> object ids uint8 ``[H, W]`` = ``size``, as DINO does.

    Bilinear upsampling by ``patch_size`` to ``[h * p, w * p]`` (the network input the grid came from),
    ``norm_mask`` when ``normalize``, arg-max, then a nearest-neighbour resize (PIL, as the script) to
    ``size``. ``patch_size`` None upsamples bilinearly straight to ``size``.
    """
    if probs.ndim != 3:
        raise ValueError(f"labels_to_ids needs one frame's labels [L, h, w], got shape {tuple(probs.shape)}")
    _, h, w = probs.shape
    mid = (h * patch_size, w * patch_size) if patch_size else tuple(size)
    up = F.interpolate(probs[None].float(), size=mid, mode="bilinear", align_corners=False)[0]
    if normalize:
        up = norm_mask(up)
    ids = torch.max(up, dim=0).indices.to(torch.uint8)  # torch.max, as DINO: a NaN channel wins
    if tuple(ids.shape) == tuple(size):
        return ids
    resized = Image.fromarray(ids.numpy()).resize((size[1], size[0]), Image.NEAREST)
    return torch.from_numpy(np.array(resized))
