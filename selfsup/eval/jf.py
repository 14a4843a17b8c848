"""Region similarity J and contour accuracy F, as defined by the DAVIS benchmark.

Definitions (Perazzi et al. 2016, §3; Pont-Tuset et al. 2017; davis2017-evaluation
``davis2017/metrics.py``: ``db_eval_iou``, ``f_measure``, ``_seg2bmap``; ``davis2017/utils.py``:
``db_statistics``):

- J = |M ∩ G| / |M ∪ G| per object per frame; 1 when both masks are empty.
- F = 2PR / (P + R) between the boundary pixels of M and G (``boundary_map``, the official
  ``_seg2bmap``), where a boundary pixel counts as matched when the other boundary lies within
  ``ceil(0.008 * image diagonal)`` pixels (a disk; the official ``bound_th=0.008`` with
  ``skimage.morphology.disk`` and ``cv2.dilate``). Empty vs empty is a perfect match (P = R = 1);
  an empty prediction of a present object gives P = 1, R = 0; a prediction of an absent one
  P = 0, R = 1.
- Per object over its frames: Mean; Recall = fraction of frames scoring > 0.5; Decay = mean of the
  first quarter minus mean of the last quarter of the frames (quarters split as the benchmark does).

``void`` (optional, as the official functions' ``void_pixels``) removes pixels from both masks.
The DAVIS 2017 semi-supervised evaluation does not use it: it turns void (255) into background when
it reads the ground truth (``davis2017/davis.py``, ``get_all_masks``) and passes no void mask to
these functions (``evaluation.py``, ``_evaluate_semisupervised(..., None, ...)``), so void pixels
count as background in J and F (``selfsup.eval.davis`` does the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BOUNDARY_TOLERANCE = 0.008  # fraction of the image diagonal (DAVIS)
RECALL_THRESHOLD = 0.5
DECAY_BINS = 4


def _binary(mask: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [H, W] mask, got shape {mask.shape}")
    return mask.astype(bool)


def _inputs(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _binary(pred, "pred"), _binary(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must have the same size")
    if void is not None:
        keep = ~_binary(void, "void")
        if keep.shape != gt.shape:
            raise ValueError(f"void {keep.shape} must have the size of gt {gt.shape}")
        pred, gt = pred & keep, gt & keep
    return pred, gt


def region_similarity(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """J (IoU) of boolean ``[H, W]`` masks (``void`` pixels excluded if given); 1.0 when both are empty."""
    pred, gt = _inputs(pred, gt, void)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean ``[H, W]`` mask: pixels whose right, lower or lower-right
    neighbour differs (one pixel wide, on the inner side toward the lower-right)."""
    m = _binary(mask, "mask")
    right = np.zeros_like(m)
    down = np.zeros_like(m)
    diag = np.zeros_like(m)
    right[:, :-1] = m[:, 1:]
    down[:-1, :] = m[1:, :]
    diag[:-1, :-1] = m[1:, 1:]
    b = (m ^ right) | (m ^ down) | (m ^ diag)
    # The last row / column have no neighbour below / to the right: compare along the edge only.
    b[-1, :] = m[-1, :] ^ right[-1, :]
    b[:, -1] = m[:, -1] ^ down[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def boundary_tolerance(shape: tuple[int, int], tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """Match radius in pixels: ``tolerance`` itself if >= 1, else ceil(tolerance * diagonal)."""
    return int(tolerance) if tolerance >= 1 else math.ceil(tolerance * math.hypot(*shape))


def contour_accuracy(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, tolerance: float = BOUNDARY_TOLERANCE
) -> float:
    """F (boundary F-measure) of boolean ``[H, W]`` masks."""
    pred, gt = _inputs(pred, gt, void)
    disk = _disk(boundary_tolerance(gt.shape, tolerance))
    pb, gb = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = int(pb.sum()), int(gb.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # (P, R) = (1, 0) or (0, 1)
    precision = (pb & ndimage.binary_dilation(gb, structure=disk)).sum() / n_pred
    recall = (gb & ndimage.binary_dilation(pb, structure=disk)).sum() / n_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


@dataclass(frozen=True)
class Statistics:
    """Mean, Recall (> 0.5) and Decay of one object's per-frame scores."""

    mean: float
    recall: float
    decay: float


def statistics(scores: np.ndarray) -> Statistics:
    """Mean / Recall / Decay of per-frame scores ``[T]`` (T >= 1)."""
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("statistics need at least one frame score")
    # Quarter boundaries as the benchmark computes them: rounded linspace over 1..T, shifted to 0-based.
    ids = np.round(np.linspace(1, x.size, DECAY_BINS + 1) + 1e-10).astype(int) - 1
    bins = [x[ids[i] : ids[i + 1] + 1] for i in range(DECAY_BINS)]
    decay = float(np.nanmean(bins[0]) - np.nanmean(bins[-1]))
    return Statistics(float(np.nanmean(x)), float(np.mean(x > RECALL_THRESHOLD)), decay)
