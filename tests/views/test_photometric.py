"""Color jitter, grayscale, blur, solarize: torchvision's functional semantics per sample, probabilities."""

import pytest
import torch
import torchvision.transforms.functional as TF

from selfsup.views import (
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

B = 16


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images() -> torch.Tensor:
    x = torch.rand(B, 3, 12, 10, generator=gen(1))
    x[0] = x[0, :1]  # a gray image (zero chroma everywhere)
    x[1, :, :3] = 0.0  # black rows
    x[2, 1] = x[2, 0]  # red and green tie for the max
    x[3, :, :, :2] = 1.0  # saturated white columns
    return x


def per_image(fn, x, values):
    return torch.stack([fn(x[i], float(values[i])) for i in range(x.shape[0])])


# torchvision's tensor grayscale uses 0.2989 for red where we use ITU-R 601-2's 0.299, so blends
# with the luma differ by at most |1 - factor| * 1e-4; factors stay in [0.2, 1.8] to keep it < 1e-4.
@pytest.mark.parametrize(
    "ours, theirs, low, high, atol",
    [
        (adjust_brightness, TF.adjust_brightness, 0.0, 1.8, 1e-6),
        (adjust_contrast, TF.adjust_contrast, 0.2, 1.8, 1e-4),
        (adjust_saturation, TF.adjust_saturation, 0.2, 1.8, 1e-4),
        (adjust_hue, TF.adjust_hue, -0.5, 0.5, 1e-5),
    ],
)
def test_adjust_matches_torchvision_per_image(images, ours, theirs, low, high, atol):
    factors = low + (high - low) * torch.rand(B, generator=gen(2))
    torch.testing.assert_close(ours(images, factors), per_image(theirs, images, factors), atol=atol, rtol=0)


@pytest.mark.parametrize(
    "ours, theirs", [(adjust_brightness, TF.adjust_brightness), (adjust_contrast, TF.adjust_contrast)]
)
def test_brightness_contrast_on_one_channel_match_torchvision(images, ours, theirs):
    gray = images[:, :1]
    factors = 0.2 + 1.6 * torch.rand(B, generator=gen(3))
    torch.testing.assert_close(ours(gray, factors), per_image(theirs, gray, factors), atol=1e-6, rtol=0)


def test_saturation_and_hue_are_identities_on_one_channel(images):
    gray = images[:, :1]
    f = torch.rand(B, generator=gen())
    assert torch.equal(adjust_saturation(gray, f), gray)
    assert torch.equal(adjust_hue(gray, f - 0.5), gray)


def test_adjust_does_not_modify_its_input(images):
    before = images.clone()
    for fn in (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue):
        fn(images, torch.full((B,), 0.3))
    assert torch.equal(images, before)


def test_full_hue_turn_and_zero_shift_are_identities(images):
    torch.testing.assert_close(adjust_hue(images, torch.zeros(B)), images, atol=2e-6, rtol=0)
    half = adjust_hue(adjust_hue(images, torch.full((B,), 0.5)), torch.full((B,), 0.5))
    torch.testing.assert_close(half, images, atol=1e-5, rtol=0)


def test_jitter_with_forced_params_matches_torchvision_chain(images):
    g = gen(4)
    params = JitterParams(
        brightness=0.4 + 1.2 * torch.rand(B, generator=g),
        contrast=0.4 + 1.2 * torch.rand(B, generator=g),
        saturation=0.4 + 1.2 * torch.rand(B, generator=g),
        hue=torch.rand(B, generator=g) - 0.5,
        applied=torch.arange(B) % 4 != 0,
    )
    out = apply_jitter(images, params)
    for i in range(B):
        want = images[i]
        if params.applied[i]:
            want = TF.adjust_brightness(want, float(params.brightness[i]))
            want = TF.adjust_contrast(want, float(params.contrast[i]))
            want = TF.adjust_saturation(want, float(params.saturation[i]))
            want = TF.adjust_hue(want, float(params.hue[i]))
            torch.testing.assert_close(out[i], want, atol=3e-4, rtol=0)
        else:
            assert torch.equal(out[i], want)  # skipped samples come back bit-exact


def test_jitter_params_ranges_and_probability():
    p = sample_jitter_params(20000, 0.8, 0.4, 1.5, 0.2, 0.8, generator=gen())
    for values, lo, hi in (
        (p.brightness, 0.2, 1.8),
        (p.contrast, 0.6, 1.4),
        (p.saturation, 0.0, 2.5),
        (p.hue, -0.2, 0.2),
    ):
        assert values.min() >= lo and values.max() <= hi
        assert values.min() < lo + 0.01 and values.max() > hi - 0.01  # uniform over the whole range
        assert abs(values.mean().item() - (lo + hi) / 2) < 0.02
    assert abs(p.applied.float().mean().item() - 0.8) < 0.01
    # Independent draws per sample and per factor.
    assert abs(torch.corrcoef(torch.stack([p.brightness, p.contrast]))[0, 1].item()) < 0.03


def test_zero_strength_jitter_is_identity(images):
    assert torch.equal(color_jitter(images, 0.0, 0.0, 0.0, 0.0, p=1.0, generator=gen()), images)


def test_jitter_probability_and_return_params(images):
    x = images.repeat(50, 1, 1, 1)
    out, params = color_jitter(x, p=0.5, generator=gen(), return_params=True)
    unchanged = (out == x).flatten(1).all(1)
    assert torch.equal(unchanged, ~params.applied)
    assert 0.4 < params.applied.float().mean().item() < 0.6
    torch.testing.assert_close(out, apply_jitter(x, params))


def test_jitter_same_seed_same_output(images):
    a = color_jitter(images, generator=gen(5))
    assert torch.equal(a, color_jitter(images, generator=gen(5)))
    assert not torch.equal(a, color_jitter(images, generator=gen(6)))


def test_jitter_stays_in_unit_range(images):
    out = color_jitter(images, 2.0, 2.0, 2.0, 0.5, p=1.0, generator=gen())
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_grayscale_channels_equal_luma(images):
    out = random_grayscale(images, p=1.0, generator=gen())
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma, atol=1e-6, rtol=0)
    torch.testing.assert_close(rgb_to_luma(images)[:, 0], luma, atol=1e-6, rtol=0)
    assert torch.equal(random_grayscale(images, p=0.0, generator=gen()), images)


def test_grayscale_probability_one_channel_and_inplace(images):
    x = images.repeat(100, 1, 1, 1)
    out = random_grayscale(x, p=0.2, generator=gen())
    gray = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (gray | kept).all()
    assert 0.15 < (gray & ~kept).float().mean().item() < 0.25
    one = images[:, :1]
    assert torch.equal(random_grayscale(one, p=1.0, generator=gen()), one)
    y = images.clone()
    assert random_grayscale(y, p=1.0, generator=gen(), inplace=True).data_ptr() == y.data_ptr()
    assert torch.equal(y[:, 0], y[:, 1])


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_blur_matches_torchvision_per_sigma(images, kernel_size):
    sigmas = 0.1 + 1.9 * torch.rand(B, generator=gen(6))
    ours = blur_with_sigmas(images, sigmas, kernel_size)
    theirs = torch.stack(
        [TF.gaussian_blur(images[i], [kernel_size] * 2, [float(sigmas[i])] * 2) for i in range(B)]
    )
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_blur_keeps_constant_image_and_tiny_sigma_is_identity(images):
    const = torch.full((4, 3, 9, 9), 0.37)
    torch.testing.assert_close(gaussian_blur(const, sigma=(0.5, 2.0), p=1.0, generator=gen()), const)
    tiny = gaussian_blur(images, sigma=(1e-3, 1e-3), p=1.0, kernel_size=5, generator=gen())
    torch.testing.assert_close(tiny, images, atol=1e-6, rtol=0)
    blurred = gaussian_blur(images, sigma=(2.0, 2.0), p=1.0, kernel_size=5, generator=gen())
    torch.testing.assert_close(blurred.mean(dim=(1, 2, 3)), images.mean(dim=(1, 2, 3)), atol=0.02, rtol=0)
    assert blurred.std() < images.std()


def test_blur_probability_leaves_others_bit_exact(images):
    x = images.repeat(50, 1, 1, 1)
    out = gaussian_blur(x, p=0.5, kernel_size=3, generator=gen())
    kept = (out == x).flatten(1).all(1)
    assert 0.4 < kept.float().mean().item() < 0.6
    assert torch.equal(gaussian_blur(x, p=0.0, generator=gen()), x)


def test_default_blur_kernel_is_ten_percent_odd():
    assert [default_blur_kernel_size(s) for s in (224, 96, 32, 28, 8)] == [23, 9, 3, 3, 3]


def test_blur_bad_kernel_raises(images):
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur(images, kernel_size=4, generator=gen())
    with pytest.raises(ValueError, match="too large"):
        gaussian_blur(images, kernel_size=25, generator=gen())
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(images, sigma=(2.0, 1.0), generator=gen())


def test_solarize_inverts_exactly_pixels_above_threshold(images):
    out = solarize(images, threshold=0.6, p=1.0, generator=gen())
    high = images >= 0.6
    assert torch.equal(out[high], 1.0 - images[high])
    assert torch.equal(out[~high], images[~high])
    assert torch.equal(out, torch.stack([TF.solarize(im, 0.6) for im in images]))
    assert torch.equal(solarize(images, p=0.0, generator=gen()), images)
    x = images.repeat(50, 1, 1, 1)
    changed = (solarize(x, 0.5, p=0.2, generator=gen()) != x).flatten(1).any(1)
    assert 0.15 < changed.float().mean().item() < 0.25


def test_bad_parameters_raise_clear_errors(images):
    with pytest.raises(ValueError, match="hue"):
        color_jitter(images, hue=0.7, generator=gen())
    with pytest.raises(ValueError, match="brightness"):
        color_jitter(images, brightness=-0.1, generator=gen())
    with pytest.raises(ValueError, match="p is a probability"):
        random_grayscale(images, p=2.0, generator=gen())
    with pytest.raises(ValueError, match="threshold"):
        solarize(images, threshold=1.5, generator=gen())
    with pytest.raises(ValueError, match="factor"):
        adjust_brightness(images, torch.ones(B + 1))


def test_jitter_cpu_blocks_match_whole_batch_stages(images, monkeypatch):
    import selfsup.views.ops as ops

    params = sample_jitter_params(B, 0.8, 0.8, 0.8, 0.2, 1.0, generator=gen(8))
    monkeypatch.setattr(ops, "CPU_BLOCK_ELEMENTS", 3 * images[0].numel())  # blocks of 3 samples
    blocked = apply_jitter(images, params)
    staged = adjust_hue(
        adjust_saturation(
            adjust_contrast(adjust_brightness(images, params.brightness), params.contrast), params.saturation
        ),
        params.hue,
    )
    # Equal up to float rounding: torch does not promise bit-equal reductions (the contrast and
    # saturation means) across batch sizes, and on AVX512 CPUs they differ in the last bits.
    torch.testing.assert_close(blocked, staged, rtol=0, atol=1e-5)
