"""``MultiCropGenerator``: DINO's multi-crop views, 2 global crops plus N small local crops, in batch.

Multi-crop (Caron et al. 2020, SwAV §3.2; DINO, Caron et al. 2021, §3.1) makes ``n_global`` high-
resolution crops covering a large part of the image and ``n_local`` low-resolution crops of small
regions. DINO's defaults (reference code ``DataAugmentationDINO``): global crops of scale (0.4, 1.0)
at 224 px, local crops of scale (0.05, 0.4) at 96 px (8 of them), random flip (p 0.5), color jitter
(brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1) with p 0.8, grayscale with p 0.2, Gaussian
blur (sigma 0.1-2.0) with p 1.0 on the first global crop, 0.1 on the second and 0.5 on every local
crop, and solarization with p 0.2 on the second global crop only (the asymmetry is BYOL's, Grill et
al. 2020, Table 6).

Each crop is one ``apply_recipe`` call: the two globals with their own recipes, the ``n_local``
locals together as one batch of ``n_local * B`` images (local k is rows ``k*B .. (k+1)*B``), which
saves per-op overhead. ``ViewRecipe`` expresses jitter as one strength ``s`` (brightness, contrast and
saturation ``0.8 s``, hue ``0.2 s``); the default ``s = 0.5`` gives DINO's 0.4 / 0.4 / 0.1 with
saturation 0.4 instead of 0.2 (no difference on grayscale images).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from selfsup.views.ops import check_generator, check_images, check_probability, check_range
from selfsup.views.recipe import ViewRecipe
from selfsup.views.two_view import apply_recipe

__all__ = ["DINO_BASE_RECIPE", "MultiCropGenerator", "default_local_size"]

# DINO's shared photometric settings; crop scale, size, blur and solarize probabilities are set per crop.
DINO_BASE_RECIPE = ViewRecipe(jitter_strength=0.5, jitter_p=0.8, grayscale_p=0.2, blur_sigma=(0.1, 2.0))


def default_local_size(global_size: int) -> int:
    """DINO's local/global side ratio 96/224 applied to ``global_size`` (28 -> 12, 224 -> 96), at least 8."""
    return max(8, round(global_size * 96 / 224))


class MultiCropGenerator:
    """``(images uint8 [B, C, H, W], generator) -> [global_1, ..., global_G, local_1, ..., local_N]``.

    Globals are float ``[B, C, global_size, global_size]``, locals ``[B, C, local_size, local_size]``,
    all normalized with ``base``'s mean/std.

    Args:
        base: shared recipe (flip, jitter, grayscale, blur sigma, normalization); its size, crop
            scale, blur and solarize probabilities are replaced per crop. DINO's by default.
        global_size: side of the global crops (DINO: 224).
        local_size: side of the local crops; None = ``default_local_size(global_size)`` (DINO: 96).
        n_local: number of local crops (DINO reference code: 8; the paper's best uses 10); 0 disables.
        global_scale: area fraction range of global crops, (0.4, 1.0).
        local_scale: area fraction range of local crops, (0.05, 0.4).
        global_blur_p: blur probability of each global crop, (1.0, 0.1); its length sets the number of
            global crops (DINO: 2).
        local_blur_p: blur probability of local crops, 0.5.
        global_solarize_p: solarize probability of each global crop, (0.0, 0.2).
    """

    def __init__(
        self,
        base: ViewRecipe = DINO_BASE_RECIPE,
        global_size: int = 224,
        local_size: int | None = None,
        n_local: int = 8,
        global_scale: tuple[float, float] = (0.4, 1.0),
        local_scale: tuple[float, float] = (0.05, 0.4),
        global_blur_p: tuple[float, ...] = (1.0, 0.1),
        local_blur_p: float = 0.5,
        global_solarize_p: tuple[float, ...] = (0.0, 0.2),
    ) -> None:
        if not isinstance(base, ViewRecipe):
            raise TypeError(f"base must be a ViewRecipe, got {type(base).__name__}")
        if isinstance(n_local, bool) or not isinstance(n_local, int) or n_local < 0:
            raise ValueError(f"n_local must be an int >= 0 (DINO: 8), got {n_local!r}")
        if len(global_blur_p) < 1 or len(global_blur_p) != len(global_solarize_p):
            raise ValueError(
                "global_blur_p and global_solarize_p need one value per global crop (DINO: (1.0, 0.1) and "
                f"(0.0, 0.2)), got {len(global_blur_p)} and {len(global_solarize_p)} values"
            )
        check_range(tuple(global_scale), "global_scale", low=0.0, high=1.0)
        check_range(tuple(local_scale), "local_scale", low=0.0, high=1.0)
        for i, (b, s) in enumerate(zip(global_blur_p, global_solarize_p, strict=True)):
            check_probability(b, f"global_blur_p[{i}]")
            check_probability(s, f"global_solarize_p[{i}]")
        check_probability(local_blur_p, "local_blur_p")
        local_size = default_local_size(global_size) if local_size is None else local_size
        # ViewRecipe checks the sizes (positive ints) and names them.
        self.global_recipes = [
            dataclasses.replace(
                base, size=global_size, crop_scale=tuple(global_scale), blur_p=b, solarize_p=s
            )
            for b, s in zip(global_blur_p, global_solarize_p, strict=True)
        ]
        self.local_recipe = dataclasses.replace(
            base, size=local_size, crop_scale=tuple(local_scale), blur_p=local_blur_p, solarize_p=0.0
        )
        self.n_global = len(self.global_recipes)
        self.n_local = n_local

    @property
    def n_views(self) -> int:
        """Total number of crops, ``n_global + n_local``."""
        return self.n_global + self.n_local

    def __call__(self, images: Tensor, generator: torch.Generator) -> list[Tensor]:
        """``images`` uint8 ``[B, C, H, W]`` -> list of ``n_global`` global then ``n_local`` local views."""
        check_images(images, "images", floating=None)
        check_generator(generator, images)
        views = [apply_recipe(images, r, generator) for r in self.global_recipes]
        if self.n_local:
            stacked = images.repeat(self.n_local, 1, 1, 1)
            views += list(apply_recipe(stacked, self.local_recipe, generator).chunk(self.n_local))
        return views

    def __repr__(self) -> str:
        return (
            f"MultiCropGenerator(n_global={self.n_global}, n_local={self.n_local}, "
            f"global={self.global_recipes!r}, local={self.local_recipe!r})"
        )
