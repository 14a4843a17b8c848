"""Datasets held entirely in memory as one uint8 tensor, with a batched fast path.

Every ``selfsup`` dataset returns ``(image, label, index)``: ``image`` uint8 ``[C, H, W]``,
``label`` an int (-1 when unlabeled), ``index`` the int position. Small datasets
(Fashion-MNIST: 47 MB, digits: 115 kB) are stored as ``images [N, C, H, W]`` uint8 plus
``labels [N]`` int64 and also implement ``__getitems__``: a ``DataLoader`` then fetches a
whole batch with one tensor index instead of ``B`` Python calls and a stack. Views are
made later, batched on the training device (DESIGN.md section 3), so no per-item
transform runs here.

A ``DataLoader`` over such a dataset must use ``collate_fn=collate_batched`` (the
default collate would treat the already-batched tuple as three separate samples).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset


def resize_uint8(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Resize uint8 images ``[N, C, H, W]`` to ``[N, C, size, size]`` (square inputs only).

    Bilinear with antialiasing (so downscaling does not alias), rounded back to uint8.
    Done in chunks of ``chunk`` images so 60k images need only ~``chunk`` images of
    float32 scratch memory rather than ~250 MB.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"resize_uint8 expects uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    if size < 1:
        raise ValueError(f"image_size must be >= 1, got {size}")
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].float()
        block = F.interpolate(block, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = block.round_().clamp_(0, 255).to(torch.uint8)
    return out


class InMemoryImageDataset(Dataset):
    """A labeled (or unlabeled) image dataset stored as tensors.

    images:  uint8 ``[N, C, H, W]``.
    labels:  int64 ``[N]``, class ids in ``[0, len(classes))``, or all -1 when unlabeled
             (then ``classes`` is empty and ``num_classes`` is 0).
    classes: class names, index = label id.
    image_size: if given, every image is resized once to ``image_size x image_size``
             (see ``resize_uint8``); e.g. 32 for a ViT with patch 4 on 28 px Fashion-MNIST.

    The tensors are shared, not copied (Fashion-MNIST caches them per process); treat
    them as read-only.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor | None,
        classes: Sequence[str] = (),
        image_size: int | None = None,
        name: str = "in_memory",
    ) -> None:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            got = (
                f"{images.dtype} {tuple(images.shape)}"
                if isinstance(images, Tensor)
                else type(images).__name__
            )
            raise ValueError(f"{name}: images must be a uint8 tensor [N, C, H, W], got {got}")
        n = images.shape[0]
        if labels is None:
            labels = torch.full((n,), -1, dtype=torch.int64)
        labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"{name}: {n} images but {labels.shape[0]} labels")
        classes = list(classes)
        if classes and n and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f"{name}: labels span [{int(labels.min())}, {int(labels.max())}] "
                f"but there are {len(classes)} classes"
            )
        if not classes and n and bool((labels != -1).any()):
            raise ValueError(f"{name}: labels given without class names; pass classes=[...]")
        if image_size is not None:
            images = resize_uint8(images, int(image_size))
        self.images = images
        self.labels = labels
        self.classes = classes
        self.name = name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.images.shape[2]), int(self.images.shape[3]))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        """One sample: (uint8 ``[C, H, W]``, label int, index int)."""
        n = len(self)
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"{self.name}: index {index} out of range for {n} items")
        i %= n
        return self.images[i], int(self.labels[i]), i

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        """A whole batch at once: (uint8 ``[B, C, H, W]``, int64 ``[B]``, int64 ``[B]``).

        ``torch.utils.data.DataLoader`` calls this with the sampler's indices for one batch.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"{self.name}: batch index out of range for {n} items")
        idx = idx % max(n, 1)
        # numpy fancy indexing, not torch.index_select: for a 400 kB batch torch's OpenMP
        # kernel took ~12 ms on 2 busy cores (thread wake-up), numpy ~0.03 ms.
        images = torch.from_numpy(self.images.numpy()[idx])
        labels = torch.from_numpy(self.labels.numpy()[idx])
        return images, labels, torch.from_numpy(idx)

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return f"{type(self).__name__}(name={self.name!r}, n={len(self)}, shape=[{c}, {h}, {w}], classes={self.num_classes})"
