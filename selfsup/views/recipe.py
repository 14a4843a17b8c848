"""``ViewRecipe``: the parameters of one augmentation pipeline, with SimCLR's defaults.

Defaults follow SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", Appendix A): random resized crop (scale 0.08-1, ratio 3/4-4/3) with a random
horizontal flip (p 0.5), color jitter of strength s (brightness, contrast, saturation 0.8 s, hue
0.2 s) applied with p 0.8, random grayscale with p 0.2, Gaussian blur (sigma 0.1-2.0, kernel 10%
of the image side) with p 0.5. Solarization (BYOL, Grill et al. 2020) is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfsup.views.blur import default_blur_kernel_size
from selfsup.views.ops import channel_stats, check_probability, check_range

__all__ = ["ViewRecipe"]


@dataclass(frozen=True)
class ViewRecipe:
    """One view's augmentation recipe; ``apply_recipe`` / ``TwoViewGenerator`` run it in batch.

    size:               output side in pixels (32 for CIFAR-sized inputs).
    crop_scale:         area fraction range of the random resized crop, (0.08, 1.0).
    crop_ratio:         aspect-ratio (w / h) range of the crop, (3/4, 4/3).
    flip_p:             horizontal-flip probability, 0.5.
    jitter_strength:    SimCLR's color-distortion strength s, 1.0 (SimCLR uses 0.5 on CIFAR-10).
    jitter_p:           probability of applying color jitter, 0.8.
    grayscale_p:        probability of converting to grayscale, 0.2.
    blur_p:             probability of Gaussian blur, 0.5 (SimCLR's ImageNet value). SimCLR turns
                        blur off for CIFAR-10 (32 px images are already blurry); set 0.0 to match.
    blur_sigma:         blur std range in pixels, (0.1, 2.0).
    blur_kernel_size:   odd kernel side; None = 10% of ``size`` (made odd, at least 3).
    solarize_p:         probability of solarizing, 0.0 (BYOL uses 0.2 on its second view).
    solarize_threshold: pixels >= this (in [0, 1]) are inverted, 0.5.
    mean, std:          per-channel normalization; None = 0.5 for every channel (maps [0, 1] to
                        [-1, 1]). Give one value per channel, e.g. ImageNet's statistics.
    """

    size: int = 32
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_strength: float = 1.0
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_size: int | None = None
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0:
            raise ValueError(
                f"ViewRecipe.size must be a positive int (output side in pixels), got {self.size!r}"
            )
        # Lists from YAML become tuples, so recipes stay hashable and compare equal.
        for name in ("crop_scale", "crop_ratio", "blur_sigma", "mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in value))
        check_range(self.crop_scale, "ViewRecipe.crop_scale", low=0.0, high=1.0)
        check_range(self.crop_ratio, "ViewRecipe.crop_ratio", low=0.0)
        check_range(self.blur_sigma, "ViewRecipe.blur_sigma", low=0.0)
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            check_probability(getattr(self, name), f"ViewRecipe.{name}")
        # Hue shift 0.2 s must stay within half a turn of the color wheel.
        if not 0.0 <= self.jitter_strength <= 2.5:
            raise ValueError(
                f"ViewRecipe.jitter_strength must be in [0, 2.5] (hue = 0.2 s <= 0.5), got {self.jitter_strength}"
            )
        if not 0.0 <= self.solarize_threshold <= 1.0:
            raise ValueError(
                f"ViewRecipe.solarize_threshold must be in [0, 1], got {self.solarize_threshold}"
            )
        k = self.blur_kernel_size
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0):
            raise ValueError(f"ViewRecipe.blur_kernel_size must be a positive odd int or None, got {k!r}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("ViewRecipe.mean and ViewRecipe.std must be given together (or both None)")
        if self.mean is not None and self.std is not None:
            if len(self.mean) != len(self.std) or len(self.mean) == 0:
                raise ValueError(
                    f"ViewRecipe.mean and ViewRecipe.std need the same number of values (one per channel), "
                    f"got {len(self.mean)} and {len(self.std)}"
                )
            if min(self.std) <= 0:
                raise ValueError(f"ViewRecipe.std must be > 0 for every channel, got {self.std}")

    @property
    def brightness(self) -> float:
        """Brightness jitter strength, 0.8 s."""
        return 0.8 * self.jitter_strength

    @property
    def contrast(self) -> float:
        """Contrast jitter strength, 0.8 s."""
        return 0.8 * self.jitter_strength

    @property
    def saturation(self) -> float:
        """Saturation jitter strength, 0.8 s."""
        return 0.8 * self.jitter_strength

    @property
    def hue(self) -> float:
        """Hue jitter strength in turns, 0.2 s."""
        return 0.2 * self.jitter_strength

    @property
    def kernel_size(self) -> int:
        """Blur kernel side: ``blur_kernel_size`` or 10% of ``size`` made odd."""
        return (
            self.blur_kernel_size
            if self.blur_kernel_size is not None
            else default_blur_kernel_size(self.size)
        )

    def normalization(self, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` for a ``channels``-channel batch (0.5 / 0.5 when the recipe gives none)."""
        return channel_stats(self.mean, self.std, channels)
