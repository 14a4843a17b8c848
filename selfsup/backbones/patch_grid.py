"""``PatchGridBackbone``: an image encoder made of a patch encoder applied over an overlapping grid.

CPC (van den Oord et al. 2018; Hénaff et al. 2019, §3) trains its encoder on patches, never on whole
images, and represents an image by its grid of patch latents, spatially mean-pooled for linear
classification (Hénaff et al., §4.1). Evaluation and export hand encoders whole images, so this
wrapper does the same cut:

- ``forward``: ``[B, C, H, W]`` -> patches ``[B·Gh·Gw, C, p, p]`` (``patch_grid``) -> the inner encoder's
  pooled latents -> mean over the grid ``[B, D]``;
- ``forward_tokens``: the grid of latents as tokens ``[B, Gh·Gw, D]`` (row-major).

The spec is ``{"name": "patchgrid:" + inner, "kwargs": {"patch_size", "patch_stride", "in_chans",
"image_size", **inner_kwargs}}`` (from the inner encoder's spec), which ``create_backbone`` rebuilds.
"""

from __future__ import annotations

from torch import Tensor

from selfsup.backbones.base import Backbone
from selfsup.nn.patches import patch_grid

__all__ = ["PatchGridBackbone"]


class PatchGridBackbone(Backbone):
    """Mean of ``inner``'s latents over the ``patch_size`` / ``patch_stride`` grid of each image."""

    def __init__(self, inner: Backbone, patch_size: int, patch_stride: int) -> None:
        super().__init__(inner.in_chans)
        if patch_size < 1 or patch_stride < 1:
            raise ValueError(f"patch_size and patch_stride must be >= 1, got {patch_size}, {patch_stride}")
        self.inner = inner  # wrapped, parameters shared
        self.grid_patch_size, self.patch_stride = patch_size, patch_stride
        self.patch_size = patch_stride  # tokens are one per grid cell, patch_stride pixels apart
        self.num_features = self.inner.num_features
        self.token_dim = self.inner.num_features
        inner_kwargs = {k: v for k, v in inner.spec["kwargs"].items() if k != "in_chans"}
        image_size = inner_kwargs.pop("image_size", None)
        self._set_spec(
            "patchgrid:" + inner.spec["name"],
            {"patch_size": patch_size, "patch_stride": patch_stride, "in_chans": inner.in_chans,
             "image_size": image_size, **inner_kwargs},
        )  # fmt: skip

    def _latents(self, x: Tensor) -> Tensor:
        patches, gh, gw = patch_grid(x, self.grid_patch_size, self.patch_stride)
        return self.inner(patches).reshape(x.shape[0], gh * gw, -1)

    def _forward_pooled(self, x: Tensor) -> Tensor:
        return self._latents(x).mean(dim=1)

    def _forward_tokens(self, x: Tensor) -> Tensor:
        return self._latents(x)
