"""scikit-learn's handwritten digits: 1,797 real 8x8 grayscale images, 10 classes, zero install.

The UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak, 1998) as
shipped by ``sklearn.datasets.load_digits``: 4x4-block counts in 0..16, scaled here to
uint8 0..255 by ``round(v * 255 / 16)``.

Split (deterministic, stratified, independent of any RNG or library version): within each
class, in the original order, every 5th image starting with the first goes to "test"
(20 %), the rest to "train". That gives 1,433 train / 364 test images.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.data.in_memory import InMemoryImageDataset

DIGITS_CLASSES = [str(d) for d in range(10)]
_TEST_EVERY = 5


def digits_split_indices(labels: Tensor, split: str) -> Tensor:
    """Indices ``[M]`` of ``split`` ("train" or "test"): test = every 5th item of each class."""
    if split not in ("train", "test"):
        raise ValueError(f"digits split must be 'train' or 'test', got {split!r}")
    rank_in_class = torch.empty_like(labels)
    for c in labels.unique():
        members = (labels == c).nonzero().squeeze(1)
        rank_in_class[members] = torch.arange(members.numel())
    is_test = rank_in_class % _TEST_EVERY == 0
    return (is_test if split == "test" else ~is_test).nonzero().squeeze(1)


def load_digits_arrays() -> tuple[Tensor, Tensor]:
    """All 1,797 digits: ``(images uint8 [1797, 1, 8, 8], labels int64 [1797])``."""
    from sklearn.datasets import load_digits  # local import: sklearn costs ~0.5 s to import

    bunch = load_digits()
    values = torch.from_numpy(bunch.images).reshape(-1, 1, 8, 8)
    images = (values * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8)
    return images, torch.from_numpy(bunch.target).to(torch.int64)


class Digits(InMemoryImageDataset):
    """The sklearn digits split as an in-memory dataset of uint8 ``[1, 8, 8]`` images.

    split:      "train" (1,433) or "test" (364), see the module docstring.
    image_size: optional square resize applied once (default None keeps 8 px; most
                backbones want at least 16 or 32).
    """

    def __init__(self, split: str = "train", image_size: int | None = None) -> None:
        images, labels = load_digits_arrays()
        keep = digits_split_indices(labels, split)
        super().__init__(
            images[keep], labels[keep], DIGITS_CLASSES, image_size=image_size, name=f"digits/{split}"
        )
        self.split = split
