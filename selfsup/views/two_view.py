"""Recipe pipelines: ``apply_recipe`` (one view), ``TwoViewGenerator`` (n views), ``eval_transform``.

Training views are made in batch on the training device from uint8 images ``[B, C, H, W]``; each
image gets its own random parameters in every view, drawn from the explicit generator, so the
views are a pure function of (images, generator state).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from selfsup.views.geometric import random_resized_crop, resize
from selfsup.views.ops import check_generator, check_images, normalize, to_float
from selfsup.views.photometric import color_jitter, gaussian_blur, random_grayscale, solarize
from selfsup.views.recipe import ViewRecipe

__all__ = ["TwoViewGenerator", "apply_recipe", "eval_transform"]


def _as_float(images: Tensor) -> Tensor:
    check_images(images, "images", floating=None)
    return images if images.is_floating_point() else to_float(images)


def apply_recipe(images: Tensor, recipe: ViewRecipe, generator: torch.Generator) -> Tensor:
    """One augmented, normalized view ``[B, C, size, size]`` of ``images`` ``[B, C, H, W]``.

    ``images`` is uint8, or float already in [0, 1]. Steps, in SimCLR's order: random resized crop
    with fused flip, color jitter, grayscale, blur, solarize, normalize. A step whose probability
    is 0 is skipped and draws nothing from ``generator``.
    """
    if not isinstance(recipe, ViewRecipe):
        raise TypeError(f"recipe must be a ViewRecipe, got {type(recipe).__name__}")
    x = _as_float(images)
    check_generator(generator, x)
    # The crop writes a fresh buffer, so later steps may work in place without touching the input.
    x = random_resized_crop(
        x, recipe.size, recipe.crop_scale, recipe.crop_ratio, flip_p=recipe.flip_p, generator=generator
    )
    if recipe.jitter_p > 0 and recipe.jitter_strength > 0:
        x = color_jitter(
            x,
            recipe.brightness,
            recipe.contrast,
            recipe.saturation,
            recipe.hue,
            recipe.jitter_p,
            generator=generator,
        )
    if recipe.grayscale_p > 0:
        x = random_grayscale(x, recipe.grayscale_p, generator=generator, inplace=True)
    if recipe.blur_p > 0:
        x = gaussian_blur(x, recipe.blur_sigma, recipe.blur_p, recipe.kernel_size, generator=generator)
    if recipe.solarize_p > 0:
        x = solarize(x, recipe.solarize_threshold, recipe.solarize_p, generator=generator)
    mean, std = recipe.normalization(x.shape[1])
    return normalize(x, mean, std, inplace=True)


class TwoViewGenerator:
    """Make ``n_views`` independently augmented, normalized views of a uint8 batch.

    ``TwoViewGenerator(ViewRecipe())(images, generator)`` returns a list of ``n_views`` float tensors
    ``[B, C, size, size]``: the SimCLR pair by default. Pass a sequence of recipes for asymmetric
    views (BYOL's second view adds solarization); ``n_views`` then equals its length. With one
    recipe all views go through the pipeline as a single batch of ``n_views * B`` images (view k is
    rows ``k*B .. (k+1)*B``), which saves per-op overhead.
    """

    def __init__(self, recipe: ViewRecipe | Sequence[ViewRecipe] | None = None, n_views: int | None = None):
        recipes = (
            [ViewRecipe()] if recipe is None else [recipe] if isinstance(recipe, ViewRecipe) else list(recipe)
        )
        if not recipes or not all(isinstance(r, ViewRecipe) for r in recipes):
            raise TypeError(
                "recipe must be a ViewRecipe or a non-empty sequence of ViewRecipe (one per view)"
            )
        if len(recipes) > 1:
            if n_views is not None and n_views != len(recipes):
                raise ValueError(
                    f"n_views={n_views} but {len(recipes)} recipes were given; pass one or the other"
                )
            n_views = len(recipes)
        n_views = 2 if n_views is None else n_views
        if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 1:
            raise ValueError(f"n_views must be a positive int, got {n_views!r}")
        self.recipes = recipes
        self.n_views = n_views

    def __call__(self, images: Tensor, generator: torch.Generator) -> list[Tensor]:
        """``images`` uint8 ``[B, C, H, W]`` -> list of ``n_views`` float views ``[B, C, size, size]``."""
        check_images(images, "images", floating=None)
        check_generator(generator, images)
        if len(self.recipes) > 1:
            x = _as_float(images)
            return [apply_recipe(x, r, generator) for r in self.recipes]
        # Repeat before converting: copying uint8 moves a quarter of the bytes.
        stacked = _as_float(images.repeat(self.n_views, 1, 1, 1))
        return list(apply_recipe(stacked, self.recipes[0], generator).chunk(self.n_views))

    def __repr__(self) -> str:
        recipes = self.recipes[0] if len(self.recipes) == 1 else self.recipes
        return f"TwoViewGenerator(recipe={recipes!r}, n_views={self.n_views})"


def eval_transform(
    images: Tensor,
    size: int | tuple[int, int],
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Tensor:
    """Deterministic evaluation view: uint8 ``[B, C, H, W]`` -> float ``[B, C, size, size]``.

    Antialiased bilinear resize to ``size`` (as torchvision's Resize) then normalize with
    ``mean``/``std`` (None = 0.5 per channel, matching ``ViewRecipe``'s default).
    """
    x = resize(_as_float(images), size, antialias=True)
    if (mean is None) != (std is None):
        raise ValueError("mean and std must be given together (or both None)")
    if mean is None or std is None:
        mean, std = 0.5, 0.5
    return normalize(x, mean, std)
