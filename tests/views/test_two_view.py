"""TwoViewGenerator / apply_recipe / eval_transform: shapes, independence, determinism, resume."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.views import (
    TwoViewGenerator,
    ViewRecipe,
    apply_recipe,
    apply_view_params,
    eval_transform,
    normalize,
    sample_view_params,
    to_float,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randint(0, 256, (8, 3, 28, 28), dtype=torch.uint8, generator=gen(1))


def test_two_views_shapes_range_and_independence(images):
    views = TwoViewGenerator(ViewRecipe(size=32))(images, gen())
    assert len(views) == 2
    for v in views:
        assert v.shape == (8, 3, 32, 32) and v.dtype == torch.float32
        assert v.min() >= -1.0 and v.max() <= 1.0  # default mean = std = 0.5 maps [0, 1] to [-1, 1]
    # Each sample's two views differ, and the samples of one view differ from each other.
    assert (views[0] - views[1]).flatten(1).abs().amax(1).gt(0.05).all()


def test_same_seed_identical_views_and_resume_from_generator_state(images):
    tv = TwoViewGenerator(ViewRecipe(solarize_p=0.2))
    a = tv(images, gen(3))
    b = tv(images, gen(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # Resume: saving the generator state mid-run reproduces the next batch exactly.
    g = gen(4)
    tv(images, g)
    state = g.get_state()
    next_views = tv(images, g)
    g2 = torch.Generator()
    g2.set_state(state)
    assert all(torch.equal(x, y) for x, y in zip(next_views, tv(images, g2), strict=True))
    assert not torch.equal(next_views[0], tv(images, g)[0])


def test_identity_recipe_is_resize_free_normalization(images):
    off = ViewRecipe(
        size=28,
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        flip_p=0.0,
        jitter_p=0.0,
        grayscale_p=0.0,
        blur_p=0.0,
    )
    want = normalize(to_float(images), 0.5, 0.5)
    torch.testing.assert_close(apply_recipe(images, off, gen()), want, atol=1e-5, rtol=0)


def test_grayscale_input_through_full_recipe(images):
    gray = images[:, :1]
    recipe = ViewRecipe(size=24, solarize_p=0.5, mean=(0.3,), std=(0.2,))
    views = TwoViewGenerator(recipe)(gray, gen())
    assert [v.shape for v in views] == [(8, 1, 24, 24)] * 2
    assert all(torch.isfinite(v).all() for v in views)
    lo, hi = (0 - 0.3) / 0.2, (1 - 0.3) / 0.2
    assert all(v.min() >= lo - 1e-5 and v.max() <= hi + 1e-5 for v in views)


def test_n_views_and_per_view_recipes(images):
    three = TwoViewGenerator(ViewRecipe(size=16), n_views=3)(images, gen())
    assert len(three) == 3 and all(v.shape == (8, 3, 16, 16) for v in three)
    byol = [ViewRecipe(blur_p=1.0), ViewRecipe(blur_p=0.1, solarize_p=0.2)]
    tv = TwoViewGenerator(byol)
    assert tv.n_views == 2 and len(tv(images, gen())) == 2
    with pytest.raises(ValueError, match="n_views"):
        TwoViewGenerator(byol, n_views=3)
    with pytest.raises(ValueError, match="n_views"):
        TwoViewGenerator(ViewRecipe(), n_views=0)
    with pytest.raises(TypeError, match="ViewRecipe"):
        TwoViewGenerator({"size": 32})


def test_views_follow_the_recipe_statistics():
    # On a large batch of a flat mid-gray image the only pixel-changing ops are brightness and
    # contrast (gray has no saturation or hue and stays flat under crop, flip, blur): the fraction
    # of views whose value moved is the jitter probability.
    flat = torch.full((2000, 3, 8, 8), 128, dtype=torch.uint8)
    view = apply_recipe(flat, ViewRecipe(size=8, jitter_p=0.3), gen())
    moved = (view - view.new_tensor(128 / 255 * 2 - 1)).abs().flatten(1).amax(1) > 1e-5
    assert 0.26 < moved.float().mean().item() < 0.34


def test_apply_recipe_accepts_float_and_rejects_bad_input(images):
    r = ViewRecipe(size=16)
    as_float = apply_recipe(to_float(images), r, gen())
    assert torch.equal(as_float, apply_recipe(images, r, gen()))
    with pytest.raises(TypeError, match="ViewRecipe"):
        apply_recipe(images, "simclr", gen())
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        TwoViewGenerator()(images[0], gen())
    with pytest.raises(TypeError, match="torch.Generator"):
        TwoViewGenerator()(images, 0)


def test_eval_transform_resizes_with_antialias_and_normalizes(images):
    out = eval_transform(images, 14, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    ref = F.interpolate(to_float(images), size=(14, 14), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(out, normalize(ref, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2)))
    torch.testing.assert_close(eval_transform(images, 28), to_float(images) * 2 - 1)
    with pytest.raises(ValueError, match="together"):
        eval_transform(images, 28, mean=(0.5,))


def test_recipe_equals_the_ops_called_in_turn(images):
    # sample_view_params draws in pipeline order, so apply_recipe is the chain of the random ops.
    from selfsup.views import color_jitter, gaussian_blur, random_grayscale, random_resized_crop, solarize

    r = ViewRecipe(size=20, solarize_p=0.5)
    g = gen(9)
    x = random_resized_crop(
        to_float(images), r.size, r.crop_scale, r.crop_ratio, flip_p=r.flip_p, generator=g
    )
    x = color_jitter(x, r.brightness, r.contrast, r.saturation, r.hue, r.jitter_p, generator=g)
    x = random_grayscale(x, r.grayscale_p, generator=g)
    x = gaussian_blur(x, r.blur_sigma, r.blur_p, r.kernel_size, generator=g)
    x = solarize(x, r.solarize_threshold, r.solarize_p, generator=g)
    out, params = apply_recipe(images, r, gen(9), return_params=True)
    torch.testing.assert_close(out, normalize(x, 0.5, 0.5), atol=1e-6, rtol=0)
    assert torch.equal(apply_view_params(images, params, r), out)


def test_cpu_blocking_does_not_change_the_views(images, monkeypatch):
    import selfsup.views.ops as ops

    big = images.repeat(8, 1, 1, 1)
    params = sample_view_params(64, 28, 28, ViewRecipe(), generator=gen(), device=torch.device("cpu"))
    whole = apply_view_params(big, params, ViewRecipe())
    monkeypatch.setattr(ops, "CPU_BLOCK_ELEMENTS", 5 * 3 * 32 * 32)
    assert len(ops.cpu_blocks(big, 3 * 32 * 32)) == 13
    # Up to float rounding: torch does not promise bit-equal reductions across batch sizes (AVX512).
    torch.testing.assert_close(apply_view_params(big, params, ViewRecipe()), whole, rtol=0, atol=1e-5)


def test_view_params_ranges(images):
    p = sample_view_params(4000, 28, 28, ViewRecipe(), generator=gen(), device=torch.device("cpu"))
    assert p.solarized is None  # solarize_p = 0 draws nothing
    for coin, prob in ((p.flipped, 0.5), (p.jitter.applied, 0.8), (p.grayscale, 0.2), (p.blurred, 0.5)):
        assert abs(coin.float().mean().item() - prob) < 0.03
    assert p.blur_sigma.min() >= 0.1 and p.blur_sigma.max() <= 2.0
    area = p.boxes[:, 2] * p.boxes[:, 3] / 28**2
    assert area.min() >= 0.08 - 1e-4 and area.max() <= 1.0 + 1e-4
    with pytest.raises(ValueError, match="drawn for 4000 images"):
        apply_view_params(images, p, ViewRecipe())
