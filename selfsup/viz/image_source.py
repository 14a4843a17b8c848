"""``load_images``: the images a visualization draws on, from a dataset name or image files.

A dataset name gives its first ``num`` *test* images (uint8, native size); files, or every file of
a folder (sorted), are read with PIL, converted to the requested channels and resized to
``size`` x ``size``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_images"]


def load_images(sources: list[str], num: int, channels: int, size: int = 64):
    """uint8 ``[N, channels, H, W]``: the first ``num`` test images of a dataset, or image files.

    Files (or every file of a folder, sorted) are read with PIL and resized to ``size`` x ``size``.
    """
    import numpy as np
    import torch
    from PIL import Image

    from selfsup.data import create_dataset, dataset_to_tensors

    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    paths = [Path(s) for s in sources]
    if not any(p.exists() for p in paths):
        if len(sources) != 1:
            raise ValueError(f"--images: none of {sources} exists; give image files or one dataset name")
        images, _ = dataset_to_tensors(create_dataset(sources[0], "test"))
        return images[:num]
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p]) if f.is_file()]
    if not files:
        raise ValueError(f"--images: no image files in {sources}")
    mode = "L" if channels == 1 else "RGB"
    arrays = [np.asarray(Image.open(f).convert(mode).resize((size, size))) for f in files[:num]]
    stacked = torch.from_numpy(np.stack(arrays))
    return stacked.unsqueeze(1) if channels == 1 else stacked.permute(0, 3, 1, 2)
