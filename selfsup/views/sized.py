"""``ViewsBySize``: one view generator per output size, built on first use.

Methods crop to their configured ``view_size`` or, when it is None, to the size of
the incoming images, so one config serves 28 px and 224 px data alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

ViewFn = Callable[[Tensor, torch.Generator], list[Tensor]]


class ViewsBySize:
    """``views(images [B, C, H, W] uint8, generator) -> list of [B, C, s, s]`` with ``s = size or W``.

    ``build(s)`` makes the generator for output size ``s`` (e.g. a ``TwoViewGenerator``).
    Without a generator, a fixed seed (0) on the images' device keeps calls reproducible.
    """

    def __init__(self, build: Callable[[int], ViewFn], size: int | None = None) -> None:
        self.build = build
        self.size = size
        self._cache: dict[int, ViewFn] = {}

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        size = self.size or images.shape[-1]
        if size not in self._cache:
            self._cache[size] = self.build(size)
        if generator is None:
            generator = torch.Generator(device=images.device).manual_seed(0)
        return self._cache[size](images, generator)
