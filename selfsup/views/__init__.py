"""Batched, on-device view generation (augmentations) for self-supervised learning.

Images arrive as uint8 ``[B, C, H, W]`` (C = 1 or 3); ops work on float ``[B, C, H, W]`` in [0, 1],
draw per-sample parameters from an explicit ``torch.Generator`` on the images' device, and apply
each op with a per-sample probability. ``TwoViewGenerator(ViewRecipe())`` makes SimCLR's views.
"""

from selfsup.views.geometric import (
    CropParams,
    horizontal_flip,
    random_resized_crop,
    resize,
    resized_crop,
    sample_crop_boxes,
)
from selfsup.views.ops import normalize, to_float
from selfsup.views.photometric import (
    JitterParams,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    apply_jitter,
    blur_with_sigmas,
    color_jitter,
    default_blur_kernel_size,
    gaussian_blur,
    random_grayscale,
    rgb_to_luma,
    sample_jitter_params,
    solarize,
)
from selfsup.views.recipe import ViewRecipe
from selfsup.views.two_view import TwoViewGenerator, apply_recipe, eval_transform

__all__ = [
    "CropParams",
    "JitterParams",
    "TwoViewGenerator",
    "ViewRecipe",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_jitter",
    "apply_recipe",
    "blur_with_sigmas",
    "color_jitter",
    "default_blur_kernel_size",
    "eval_transform",
    "gaussian_blur",
    "horizontal_flip",
    "normalize",
    "random_grayscale",
    "random_resized_crop",
    "resize",
    "resized_crop",
    "rgb_to_luma",
    "sample_crop_boxes",
    "sample_jitter_params",
    "solarize",
    "to_float",
]
