"""Seeded, stratified splits: the validation split of every labelled dataset and the held-out
test split of a folder that has none.

The evaluation protocol (DESIGN.md section 3b) needs three disjoint roles:

- **fit**: the part of the training split a classifier (kNN memory bank, linear probe) is fit on
  while a choice is made;
- **validation**: ``VALIDATION_FRACTION`` of the training split, carved per class with
  ``VALIDATION_SEED``; every choice (probe weight decay, schedules, config values) is scored here;
- **test**: the dataset's own test split, scored once at the end. A labelled image folder without
  a ``test/`` sub-folder gets ``HELDOUT_TEST_FRACTION`` of its images held out instead (never its
  training images: a linear probe on random labels reaches ~100 % on the images it was fit on).

10 % validation follows common practice for ImageNet-scale protocols (e.g. the 10,000-image
"minival" of Kolesnikov et al. 2019 is ~1 % of ImageNet; with 60,000 Fashion-MNIST images 10 %
keeps 600 images per class for a stable choice).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor

VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 0
HELDOUT_TEST_FRACTION = 0.2
HELDOUT_TEST_SEED = 0


def stratified_split(labels: Tensor | Sequence[int], fraction: float, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded stratified split of ``labels [N]`` -> ``(kept_idx, held_idx)``, both sorted int64.

    Each class sends ``round(fraction * n_c)`` samples to the held part, at least one and at most
    ``n_c - 1`` (a singleton class stays in the kept part). The same labels and seed always give
    the same split, on any machine (a CPU ``torch.Generator``).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    labels_cpu = torch.as_tensor(labels).cpu()
    generator = torch.Generator().manual_seed(seed)
    held_parts = [torch.empty(0, dtype=torch.long)]
    for cls in torch.unique(labels_cpu).tolist():
        idx = (labels_cpu == cls).nonzero().flatten()
        n_held = min(max(round(fraction * idx.numel()), 1), idx.numel() - 1)
        held_parts.append(idx[torch.randperm(idx.numel(), generator=generator)[:n_held]])
    held = torch.zeros(labels_cpu.numel(), dtype=torch.bool)
    held[torch.cat(held_parts)] = True
    return (~held).nonzero().flatten(), held.nonzero().flatten()


def fingerprint(indices: Tensor) -> str:
    """A short hash of an index set (12 hex digits), recorded so two runs can show they used one split."""
    data = torch.as_tensor(indices, dtype=torch.int64).cpu().sort().values.numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:12]
