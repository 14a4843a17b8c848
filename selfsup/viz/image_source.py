"""``load_images``: the images a visualization draws on, from the model's own data, a dataset or files.

- No source (``--images`` left out): the first ``num`` *test* images of the dataset the model was
  trained on (``InputSpec.dataset`` / ``root``), at its training size.
- A dataset name: its first ``num`` test images, at the model's training size.
- Files, or every file of a folder (sorted): read with PIL in the model's channels (``L`` or
  ``RGB``) and resized to its training size.

``VizImages.for_model`` hands a model the images in its channel count. Images from a dataset with
another channel count (a grayscale dataset for a colour model) are an error naming both, unless the
user passes ``--allow-input-mismatch``; files are converted, as PIL's ``convert`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from selfsup.runs import check_eval_input
from selfsup.types import InputSpec
from selfsup.views.channels import match_channels

__all__ = ["VizImages", "load_images"]


@dataclass
class VizImages:
    """uint8 ``images [N, C, H, W]`` and the dataset they came from (None: image files)."""

    images: Tensor
    dataset: str | None

    def describe(self) -> str:
        """Where the images came from, for the command's output."""
        n = int(self.images.shape[0])
        return f"the first {n} test images of {self.dataset}" if self.dataset else f"{n} image file(s)"

    def for_model(self, spec: InputSpec, source: str, allow_mismatch: bool = False) -> Tensor:
        """The images in ``spec.channels``; a dataset of other channels needs ``allow_mismatch``."""
        if self.dataset is not None:
            channels = int(self.images.shape[1])
            check_eval_input(
                spec, source, channels=channels, data=self.dataset, allow_mismatch=allow_mismatch
            )
        return match_channels(self.images, spec.channels)


def load_images(
    sources: list[str] | None, num: int, spec: InputSpec, channels: int | None = None
) -> VizImages:
    """The first ``num`` test images of ``sources`` (default: the model's training dataset), or files.

    ``spec``: the model's input (its dataset, root and size are used); ``channels``: the PIL mode files
    are read in (default ``spec.channels``; 3 when a comparison includes a colour model).
    """
    import numpy as np
    import torch
    from PIL import Image

    from selfsup.data import create_dataset, dataset_to_tensors

    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    if not sources:
        if spec.dataset is None:
            raise ValueError("the model records no training dataset; pass --images DATASET or image files")
        sources = [spec.dataset]
    paths = [Path(s) for s in sources]
    if not any(p.exists() for p in paths):
        if len(sources) != 1:
            raise ValueError(f"--images: none of {sources} exists; give image files or one dataset name")
        name = sources[0]
        root = spec.root if name == spec.dataset else None
        images, _ = dataset_to_tensors(create_dataset(name, "test", root=root, image_size=spec.image_size))
        return VizImages(images[:num], name)
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p]) if f.is_file()]
    if not files:
        raise ValueError(f"--images: no image files in {sources}")
    channels = channels or spec.channels
    mode, size = ("L" if channels == 1 else "RGB"), spec.image_size
    arrays = [np.asarray(Image.open(f).convert(mode).resize((size, size))) for f in files[:num]]
    stacked = torch.from_numpy(np.stack(arrays))
    return VizImages(stacked.unsqueeze(1) if channels == 1 else stacked.permute(0, 3, 1, 2), None)
