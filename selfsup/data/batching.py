"""Batch assembly shared by all datasets: ``collate_batched`` and ``dataset_to_tensors``.

In-memory datasets return whole batches from ``__getitems__``; lazily decoded ones return a
list of ``(image, label, index)`` samples. ``collate_batched`` turns either into the same
``(uint8 [B, C, H, W], int64 [B], int64 [B])`` triple, so one ``DataLoader`` recipe serves
every dataset:

    DataLoader(ds, batch_size=256, shuffle=True, collate_fn=collate_batched)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from selfsup.data.in_memory import InMemoryImageDataset


def collate_batched(batch: Any) -> tuple[Tensor, Tensor, Tensor]:
    """``DataLoader`` collate for ``(image, label, index)`` datasets.

    Accepts an already batched ``(images [B, C, H, W], labels [B], indices [B])`` (what
    ``__getitems__`` returns; passed through) or a list of ``B`` samples
    ``(uint8 [C, H, W], int, int)`` (stacked). Returns uint8 ``[B, C, H, W]``,
    int64 ``[B]`` labels and int64 ``[B]`` indices.
    """
    if (
        isinstance(batch, (tuple, list))
        and len(batch) == 3
        and isinstance(batch[0], Tensor)
        and batch[0].dim() == 4
    ):
        images, labels, indices = batch
        return images, torch.as_tensor(labels, dtype=torch.int64), torch.as_tensor(indices, dtype=torch.int64)
    if not isinstance(batch, (tuple, list)) or not batch:
        raise ValueError(
            f"collate_batched: expected a non-empty list of (image, label, index) samples, got {type(batch).__name__}"
        )
    try:
        images = torch.stack([sample[0] for sample in batch])
    except RuntimeError as err:
        shapes = sorted({tuple(sample[0].shape) for sample in batch})
        raise ValueError(
            f"collate_batched: images in one batch differ in shape {shapes}; give the dataset a fixed image_size"
        ) from err
    labels = torch.tensor([int(sample[1]) for sample in batch], dtype=torch.int64)
    indices = torch.tensor([int(sample[2]) for sample in batch], dtype=torch.int64)
    return images, labels, indices


def _spread_indices(n: int, max_items: int | None) -> list[int]:
    if max_items is None or max_items >= n:
        return list(range(n))
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1 or None, got {max_items}")
    # Evenly spaced rather than the first max_items: folder datasets are sorted by class,
    # so a prefix would hold one or two classes only.
    return [(k * n) // max_items for k in range(max_items)]


def dataset_to_tensors(
    ds: Dataset, max_items: int | None = None, batch_size: int = 256, num_workers: int = 0
) -> tuple[Tensor, Tensor]:
    """All of ``ds`` (or ``max_items`` evenly spaced items) as ``(uint8 [N, C, H, W], int64 [N])``.

    For evaluation (kNN, linear probe, plots). In-memory datasets are sliced directly;
    others are decoded through a ``DataLoader`` with ``num_workers`` workers.
    """
    n = len(ds)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("dataset_to_tensors: the dataset is empty")
    indices: Sequence[int] = _spread_indices(n, max_items)
    if isinstance(ds, InMemoryImageDataset):
        images, labels, _ = ds.__getitems__(indices)
        return images, labels
    loader = DataLoader(
        ds, batch_size=batch_size, sampler=indices, num_workers=num_workers, collate_fn=collate_batched
    )
    images_out, labels_out = [], []
    for images, labels, _ in loader:
        images_out.append(images)
        labels_out.append(labels)
    return torch.cat(images_out), torch.cat(labels_out)
