"""Batched, on-device view generation (augmentations) for self-supervised learning.

Images arrive as uint8 ``[B, C, H, W]`` (C = 1 or 3); ops work on float ``[B, C, H, W]`` in [0, 1],
draw per-sample parameters from an explicit ``torch.Generator`` on the images' device, and apply
each op with a per-sample probability. ``TwoViewGenerator(ViewRecipe())`` makes SimCLR's views.
"""

from selfsup.views.blur import (
    blur_with_sigmas,
    convolve_per_sample,
    default_blur_kernel_size,
    gaussian_blur,
    gaussian_kernels,
)
from selfsup.views.geometric import (
    CropParams,
    crop_coordinates,
    horizontal_flip,
    random_crop_flip,
    random_resized_crop,
    resize,
    resized_crop,
    sample_at,
    sample_crop_boxes,
)
from selfsup.views.ops import normalize, to_float
from selfsup.views.photometric import (
    JitterParams,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    apply_grayscale,
    apply_jitter,
    apply_solarize,
    color_jitter,
    random_grayscale,
    rgb_to_luma,
    sample_jitter_params,
    solarize,
)
from selfsup.views.recipe import ViewRecipe
from selfsup.views.two_view import (
    TwoViewGenerator,
    ViewParams,
    apply_recipe,
    apply_view_params,
    eval_transform,
    sample_view_params,
)

__all__ = [
    "CropParams",
    "JitterParams",
    "TwoViewGenerator",
    "ViewParams",
    "ViewRecipe",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_grayscale",
    "apply_jitter",
    "apply_recipe",
    "apply_solarize",
    "apply_view_params",
    "blur_with_sigmas",
    "color_jitter",
    "convolve_per_sample",
    "crop_coordinates",
    "default_blur_kernel_size",
    "eval_transform",
    "gaussian_blur",
    "gaussian_kernels",
    "horizontal_flip",
    "normalize",
    "random_grayscale",
    "random_crop_flip",
    "random_resized_crop",
    "resize",
    "resized_crop",
    "rgb_to_luma",
    "sample_at",
    "sample_crop_boxes",
    "sample_jitter_params",
    "sample_view_params",
    "solarize",
    "to_float",
]
