"""ViewRecipe: SimCLR defaults and validation that names the bad field."""

import dataclasses

import pytest

from selfsup.views import ViewRecipe


def test_simclr_defaults():
    r = ViewRecipe()
    assert r.size == 32
    assert r.crop_scale == (0.08, 1.0) and r.crop_ratio == pytest.approx((3 / 4, 4 / 3))
    assert r.flip_p == 0.5
    # Strength s = 1: brightness, contrast, saturation 0.8 s, hue 0.2 s, applied with p 0.8.
    assert (r.brightness, r.contrast, r.saturation, r.hue) == pytest.approx((0.8, 0.8, 0.8, 0.2))
    assert r.jitter_p == 0.8 and r.grayscale_p == 0.2
    assert r.blur_p == 0.5 and r.blur_sigma == (0.1, 2.0) and r.kernel_size == 3
    assert r.solarize_p == 0.0
    assert r.normalization(3) == ((0.5,) * 3, (0.5,) * 3)
    assert r.normalization(1) == ((0.5,), (0.5,))


def test_jitter_strength_scales_all_four():
    r = ViewRecipe(jitter_strength=0.5)
    assert (r.brightness, r.contrast, r.saturation, r.hue) == pytest.approx((0.4, 0.4, 0.4, 0.1))


def test_kernel_size_follows_size_or_override():
    assert ViewRecipe(size=224).kernel_size == 23
    assert ViewRecipe(size=96).kernel_size == 9
    assert ViewRecipe(size=96, blur_kernel_size=5).kernel_size == 5


def test_lists_become_tuples_and_recipe_is_hashable():
    r = ViewRecipe(crop_scale=[0.2, 1.0], mean=[0.4, 0.4, 0.4], std=[0.2, 0.2, 0.2])
    assert r.crop_scale == (0.2, 1.0) and r.mean == (0.4, 0.4, 0.4)
    assert hash(r) == hash(dataclasses.replace(r))
    assert r.normalization(3) == ((0.4,) * 3, (0.2,) * 3)
    with pytest.raises(ValueError, match="channels"):
        r.normalization(1)


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", 0),
        ("size", 32.0),
        ("crop_scale", (0.5, 0.1)),
        ("crop_scale", (0.0, 1.0)),
        ("crop_scale", (0.5, 1.5)),
        ("crop_ratio", (4 / 3, 3 / 4)),
        ("flip_p", 1.2),
        ("jitter_p", -0.1),
        ("grayscale_p", 2.0),
        ("blur_p", -1.0),
        ("solarize_p", 1.01),
        ("jitter_strength", 3.0),
        ("blur_sigma", (2.0, 0.1)),
        ("blur_kernel_size", 4),
        ("solarize_threshold", 1.5),
    ],
)
def test_invalid_field_raises_value_error_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        ViewRecipe(**{field: value})


def test_mean_and_std_must_come_together_and_match():
    with pytest.raises(ValueError, match="together"):
        ViewRecipe(mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="same number"):
        ViewRecipe(mean=(0.5, 0.5, 0.5), std=(0.5,))
    with pytest.raises(ValueError, match="std"):
        ViewRecipe(mean=(0.5,), std=(0.0,))
