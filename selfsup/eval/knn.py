"""Weighted k-nearest-neighbour classifier on frozen features.

The protocol of Wu et al. 2018 ("Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", InstDisc) as used by DINO (Caron et al. 2021): features are L2-normalized,
similarity is cosine, the ``k`` most similar training samples vote for their class with weight
``exp(sim / T)``, and the class with the largest summed weight wins. Defaults ``k = 20`` and
``T = 0.07`` are the values both papers report (DINO also reports k = 10/20/100/200).

Queries are processed in chunks of ``chunk_size`` so memory is ``chunk_size x N`` similarities
(4 bytes each), never ``M x N`` for the whole test set.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_features(feats: Tensor, name: str) -> None:
    if not isinstance(feats, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, D], got {type(feats).__name__}")
    if feats.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D [N, D], got shape {tuple(feats.shape)}; flatten pooled features first"
        )
    if not feats.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {feats.dtype}")


def _check_labels(labels: Tensor, n: int, name: str, feats_name: str) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor [N] of integer class ids, got {type(labels).__name__}"
        )
    if labels.ndim != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(
            f"{name} must be a 1-D integer tensor of class ids, got {labels.dtype} {tuple(labels.shape)}"
        )
    if labels.shape[0] != n:
        raise ValueError(
            f"{name} has {labels.shape[0]} entries but {feats_name} has {n} rows; they must match"
        )
    if n > 0 and int(labels.min()) < 0:
        raise ValueError(f"{name} must be non-negative class ids, found {int(labels.min())}")


def knn_classify(
    train_feats: Tensor,
    train_labels: Tensor,
    test_feats: Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
    exclude_self: bool = False,
) -> Tensor:
    """Predict a class for each query by a similarity-weighted vote of its ``k`` nearest train samples.

    train_feats ``[N, D]``, train_labels ``[N]`` (int), test_feats ``[M, D]`` -> predictions ``[M]`` (int64,
    on test_feats' device). Computation runs on train_feats' device in float32.

    ``exclude_self=True`` is leave-one-out on one set: test_feats must be the same samples as
    train_feats (row i of each is the same sample) and each query ignores its own row.
    ``k`` larger than the number of available neighbours is clamped with a warning.
    ``num_classes`` defaults to ``max(train_labels) + 1``.
    """
    _check_features(train_feats, "train_feats")
    _check_features(test_feats, "test_feats")
    n = train_feats.shape[0]
    _check_labels(train_labels, n, "train_labels", "train_feats")
    if n == 0:
        raise ValueError(
            "train_feats is empty (N = 0); the kNN classifier needs at least one training sample"
        )
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(
            f"train_feats has dimension {train_feats.shape[1]} but test_feats has {test_feats.shape[1]}; "
            "extract both with the same encoder"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if exclude_self and test_feats.shape[0] != n:
        raise ValueError(
            f"exclude_self=True needs test_feats to be the training set itself (same {n} rows), "
            f"got {test_feats.shape[0]} rows"
        )
    max_label = int(train_labels.max())
    if num_classes is None:
        num_classes = max_label + 1
    elif max_label >= num_classes:
        raise ValueError(f"train_labels contains class {max_label} but num_classes={num_classes}")

    available = n - 1 if exclude_self else n
    if available < 1:
        raise ValueError("exclude_self=True with a single training sample leaves no neighbours")
    if k > available:
        warnings.warn(
            f"k={k} exceeds the {available} available neighbours; using k={available}",
            UserWarning,
            stacklevel=2,
        )
        k = available

    device = train_feats.device
    train = F.normalize(train_feats.float(), dim=1)
    labels = train_labels.to(device=device, dtype=torch.long)
    preds = []
    for start in range(0, test_feats.shape[0], chunk_size):
        query = F.normalize(test_feats[start : start + chunk_size].to(device).float(), dim=1)
        sim = query @ train.T  # [c, N]
        if exclude_self:
            rows = torch.arange(sim.shape[0], device=device)
            sim[rows, rows + start] = float("-inf")
        top_sim, top_idx = sim.topk(k, dim=1)  # [c, k]
        # Subtracting the per-query max keeps exp() finite for any temperature; it rescales all of
        # one query's weights by the same factor, so the argmax of the vote is unchanged.
        weights = ((top_sim - top_sim[:, :1]) / temperature).exp()
        votes = torch.zeros(sim.shape[0], num_classes, device=device)
        votes.scatter_add_(1, labels[top_idx], weights)
        preds.append(votes.argmax(dim=1))
    if not preds:
        return torch.empty(0, dtype=torch.long, device=test_feats.device)
    return torch.cat(preds).to(test_feats.device)


def knn_accuracy(
    train_feats: Tensor,
    train_labels: Tensor,
    test_feats: Tensor,
    test_labels: Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
    exclude_self: bool = False,
) -> float:
    """Top-1 accuracy in [0, 1] of ``knn_classify`` on ``test_feats [M, D]`` with ``test_labels [M]``."""
    _check_features(test_feats, "test_feats")
    _check_labels(test_labels, test_feats.shape[0], "test_labels", "test_feats")
    if test_feats.shape[0] == 0:
        raise ValueError("test_feats is empty (M = 0); accuracy is undefined")
    preds = knn_classify(
        train_feats,
        train_labels,
        test_feats,
        k=k,
        temperature=temperature,
        num_classes=num_classes,
        chunk_size=chunk_size,
        exclude_self=exclude_self,
    )
    return float((preds == test_labels.to(preds.device)).float().mean())
