"""Multi-crop views: DINO's crop sizes / scales / per-crop probabilities, built on ``apply_recipe``."""

import dataclasses

import pytest
import torch

from selfsup.views import ViewRecipe, apply_recipe
from selfsup.views.multi_crop import DINO_BASE_RECIPE, MultiCropGenerator, default_local_size


def _images(b=6, c=1, s=28):
    return torch.randint(0, 256, (b, c, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_shapes_counts_and_dino_recipes():
    gen = MultiCropGenerator(global_size=28, n_local=5)
    views = gen(_images(), torch.Generator().manual_seed(0))
    assert len(views) == gen.n_views == 7 and gen.n_global == 2
    assert [tuple(v.shape) for v in views[:2]] == [(6, 1, 28, 28)] * 2
    assert [tuple(v.shape) for v in views[2:]] == [(6, 1, 12, 12)] * 5  # 28 · 96/224 = 12
    g1, g2 = gen.global_recipes
    assert (g1.crop_scale, g1.blur_p, g1.solarize_p) == ((0.4, 1.0), 1.0, 0.0)
    assert (g2.crop_scale, g2.blur_p, g2.solarize_p) == ((0.4, 1.0), 0.1, 0.2)
    loc = gen.local_recipe
    assert (loc.crop_scale, loc.blur_p, loc.solarize_p, loc.size) == ((0.05, 0.4), 0.5, 0.0, 12)
    for r in (g1, g2, loc):  # DINO's shared photometric settings
        assert (r.flip_p, r.jitter_p, r.grayscale_p, r.blur_sigma) == (0.5, 0.8, 0.2, (0.1, 2.0))
        assert (r.brightness, r.contrast, r.hue) == pytest.approx((0.4, 0.4, 0.1))
    assert default_local_size(224) == 96 and default_local_size(8) == 8


def test_equals_apply_recipe_calls_in_order():
    """Globals then all locals as one stacked batch, every draw from the one generator: reproducible."""
    images = _images()
    gen = MultiCropGenerator(global_size=20, local_size=10, n_local=3)
    views = gen(images, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    expected = [apply_recipe(images, r, g) for r in gen.global_recipes]
    expected += list(apply_recipe(images.repeat(3, 1, 1, 1), gen.local_recipe, g).chunk(3))
    for v, e in zip(views, expected, strict=True):
        torch.testing.assert_close(v, e, rtol=0, atol=0)
    again = gen(images, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))


def test_solarize_only_on_second_global_crop():
    """A constant bright image (200 > threshold) turns into 55 exactly where solarized: ~20 % of crop 2 only."""
    base = ViewRecipe(flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, mean=(0.0,), std=(1.0,))
    gen = MultiCropGenerator(base, global_size=8, local_size=8, n_local=2)
    images = torch.full((2000, 1, 8, 8), 200, dtype=torch.uint8)
    views = gen(images, torch.Generator().manual_seed(0))
    solarized = [(v[:, 0, 0, 0] < 0.5).float().mean().item() for v in views]
    assert solarized[0] == 0.0 and solarized[2] == 0.0 and solarized[3] == 0.0
    assert solarized[1] == pytest.approx(0.2, abs=0.03)


def test_local_crops_are_smaller_regions():
    """An image that is a horizontal ramp: a crop's pixel range grows with its width, so local crops
    (scale 0.05-0.4) span less of the ramp than global crops (0.4-1)."""
    base = dataclasses.replace(
        DINO_BASE_RECIPE, flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, mean=(0.0,), std=(1.0,)
    )
    gen = MultiCropGenerator(
        base,
        global_size=32,
        local_size=32,
        n_local=1,
        global_blur_p=(0.0, 0.0),
        global_solarize_p=(0.0, 0.0),
        local_blur_p=0.0,
    )
    ramp = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(500, 1, 64, 64).contiguous()
    views = gen(ramp, torch.Generator().manual_seed(0))
    span = [(v[:, 0].amax(dim=(1, 2)) - v[:, 0].amin(dim=(1, 2))).mean().item() for v in views]
    # Crop width ~ sqrt(scale): E sqrt(U(0.05, 0.4)) / E sqrt(U(0.4, 1)) = 0.44 / 0.84 = 0.53.
    assert span[0] == pytest.approx(span[1], rel=0.05)
    assert 0.4 < span[2] / span[0] < 0.7


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_local"):
        MultiCropGenerator(n_local=-1)
    with pytest.raises(ValueError, match="global_blur_p and global_solarize_p"):
        MultiCropGenerator(global_blur_p=(1.0, 0.1, 0.5))
    with pytest.raises(ValueError, match="local_scale"):
        MultiCropGenerator(local_scale=(0.4, 0.05))
    with pytest.raises(ValueError, match="local_blur_p"):
        MultiCropGenerator(local_blur_p=1.5)
    with pytest.raises(TypeError, match="ViewRecipe"):
        MultiCropGenerator(base={"size": 3})
