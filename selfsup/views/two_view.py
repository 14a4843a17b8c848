"""Recipe pipelines: ``apply_recipe`` (one view), ``TwoViewGenerator`` (n views), ``eval_transform``.

Training views are made in batch on the training device from uint8 images ``[B, C, H, W]``; each
image gets its own random parameters in every view, drawn from the explicit generator, so the
views are a pure function of (images, generator state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from selfsup.views.blur import convolve_per_sample, gaussian_kernels
from selfsup.views.geometric import crop_coordinates, resize, sample_at, sample_crop_boxes
from selfsup.views.ops import (
    bernoulli,
    check_generator,
    check_images,
    cpu_blocks,
    normalize,
    to_float,
    uniform,
)
from selfsup.views.photometric import (
    JitterParams,
    apply_grayscale,
    apply_jitter,
    apply_solarize,
    sample_jitter_params,
)
from selfsup.views.recipe import ViewRecipe

__all__ = [
    "TwoViewGenerator",
    "ViewParams",
    "apply_recipe",
    "apply_view_params",
    "eval_transform",
    "sample_view_params",
]


def _as_float(images: Tensor) -> Tensor:
    check_images(images, "images", floating=None)
    return images if images.is_floating_point() else to_float(images)


class ViewParams(NamedTuple):
    """Every random parameter of one view of a batch of B images (None where the recipe skips a step).

    boxes, flipped:       crop boxes ``[B, 4]`` ``(x0, y0, w, h)`` in input pixels and flips ``[B]``.
    jitter:               ``JitterParams`` (factors, hue shifts and coins, each ``[B]``).
    grayscale:            bool ``[B]``, samples turned gray.
    blur_sigma, blurred:  float ``[B]`` sigmas (pixels) and bool ``[B]`` coins.
    solarized:            bool ``[B]``.
    """

    boxes: Tensor
    flipped: Tensor
    jitter: JitterParams | None
    grayscale: Tensor | None
    blur_sigma: Tensor | None
    blurred: Tensor | None
    solarized: Tensor | None


def sample_view_params(
    batch: int,
    height: int,
    width: int,
    recipe: ViewRecipe,
    *,
    generator: torch.Generator,
    device: torch.device,
) -> ViewParams:
    """Draw one view's parameters for ``batch`` images of ``height x width`` pixels.

    The draws come in the order of the pipeline, crop boxes, flips, jitter, grayscale, blur sigmas
    and coins, solarize, exactly as calling ``random_resized_crop(flip_p=...)``, ``color_jitter``,
    ``random_grayscale``, ``gaussian_blur`` and ``solarize`` in turn would draw them. A step whose
    probability is 0 draws nothing.
    """
    kw = {"generator": generator, "device": device}
    boxes = sample_crop_boxes(batch, height, width, recipe.crop_scale, recipe.crop_ratio, **kw)
    flipped = bernoulli(batch, recipe.flip_p, **kw)
    jitter = None
    if recipe.jitter_p > 0 and recipe.jitter_strength > 0:
        r = recipe
        jitter = sample_jitter_params(batch, r.brightness, r.contrast, r.saturation, r.hue, r.jitter_p, **kw)
    grayscale = bernoulli(batch, recipe.grayscale_p, **kw) if recipe.grayscale_p > 0 else None
    blur_sigma = blurred = None
    if recipe.blur_p > 0:
        blur_sigma = uniform(batch, recipe.blur_sigma[0], recipe.blur_sigma[1], **kw)
        blurred = bernoulli(batch, recipe.blur_p, **kw)
    solarized = bernoulli(batch, recipe.solarize_p, **kw) if recipe.solarize_p > 0 else None
    return ViewParams(boxes, flipped, jitter, grayscale, blur_sigma, blurred, solarized)


class _Prepared(NamedTuple):
    """``ViewParams`` turned into what the ops consume, computed once per batch (tiny [B, ...] tensors)."""

    gx: Tensor
    gy: Tensor
    jitter: JitterParams | None
    grayscale: Tensor | None
    kernels: Tensor | None
    solarized: Tensor | None

    def block(self, sl: slice) -> _Prepared:
        def cut(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[sl]

        jitter = None if self.jitter is None else JitterParams(*(t[sl] for t in self.jitter))
        return _Prepared(
            self.gx[sl], self.gy[sl], jitter, cut(self.grayscale), cut(self.kernels), cut(self.solarized)
        )


def _apply_block(images: Tensor, p: _Prepared, recipe: ViewRecipe) -> Tensor:
    # The crop writes a fresh buffer, so the later steps may work in place.
    x = sample_at(_as_float(images), p.gx, p.gy)
    if p.jitter is not None:
        x = apply_jitter(x, p.jitter)
    if p.grayscale is not None:
        x = apply_grayscale(x, p.grayscale, inplace=True)
    if p.kernels is not None:
        x = convolve_per_sample(x, p.kernels)
    if p.solarized is not None:
        x = apply_solarize(x, recipe.solarize_threshold, p.solarized)
    mean, std = recipe.normalization(x.shape[1])
    return normalize(x, mean, std, inplace=True)


def apply_view_params(images: Tensor, params: ViewParams, recipe: ViewRecipe) -> Tensor:
    """Make the view that ``params`` describe: ``[B, C, H, W]`` uint8 (or float in [0, 1]) -> float ``[B, C, size, size]``.

    On the CPU the batch goes through the whole pipeline in blocks of ~2 MB of pixels
    (``cpu_blocks``): each block then stays in cache from crop to normalize and the temporaries are
    recycled (1.4x faster here than whole-batch ops). The result does not depend on the blocking.
    """
    check_images(images, "images", floating=None)
    b, c, h, w = images.shape
    if params.boxes.shape != (b, 4):
        raise ValueError(f"params were drawn for {params.boxes.shape[0]} images but images has {b}")
    gx, gy = crop_coordinates(params.boxes, (h, w), recipe.size, params.flipped)
    kernels = None
    if params.blur_sigma is not None:
        kernels = gaussian_kernels(params.blur_sigma, recipe.kernel_size, params.blurred)
    prepared = _Prepared(gx, gy, params.jitter, params.grayscale, kernels, params.solarized)
    blocks = cpu_blocks(images, c * max(h * w, recipe.size * recipe.size))
    if len(blocks) == 1:
        return _apply_block(images, prepared, recipe)
    dtype = images.dtype if images.is_floating_point() else torch.float32
    out = torch.empty(b, c, recipe.size, recipe.size, dtype=dtype, device=images.device)
    for sl in blocks:
        out[sl] = _apply_block(images[sl], prepared.block(sl), recipe)
    return out


def apply_recipe(
    images: Tensor, recipe: ViewRecipe, generator: torch.Generator, *, return_params: bool = False
) -> Tensor | tuple[Tensor, ViewParams]:
    """One augmented, normalized view ``[B, C, size, size]`` of ``images`` ``[B, C, H, W]``.

    ``images`` is uint8, or float already in [0, 1]. Steps, in SimCLR's order: random resized crop
    with fused flip, color jitter, grayscale, blur, solarize, normalize; each sample draws its own
    parameters (``sample_view_params``), and a step whose probability is 0 is skipped. With
    ``return_params=True`` also returns the ``ViewParams``.
    """
    if not isinstance(recipe, ViewRecipe):
        raise TypeError(f"recipe must be a ViewRecipe, got {type(recipe).__name__}")
    check_images(images, "images", floating=None)
    check_generator(generator, images)
    b, _, h, w = images.shape
    params = sample_view_params(b, h, w, recipe, generator=generator, device=images.device)
    out = apply_view_params(images, params, recipe)
    return (out, params) if return_params else out


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
            return [apply_recipe(images, r, generator) for r in self.recipes]
        stacked = images.repeat(self.n_views, 1, 1, 1)
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
