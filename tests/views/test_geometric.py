"""Random resized crop, flip and resize: per-sample parameters, ranges and exact geometry."""

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.views import (
    horizontal_flip,
    random_crop_flip,
    random_resized_crop,
    resize,
    resized_crop,
    sample_crop_boxes,
)
from selfsup.views.geometric import crop_coordinates


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ramp_images(b: int, h: int, w: int) -> torch.Tensor:
    """Channel 0 holds each pixel's x (column centre index), channel 1 its y, channel 2 zeros."""
    xs = torch.arange(w, dtype=torch.float32).expand(h, w)
    ys = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    return torch.stack([xs, ys, torch.zeros(h, w)]).expand(b, 3, h, w).contiguous()


# Largest area fraction a box with aspect in [3/4, 4/3] can have: 1, 28 * 37.3 / 1120, 20 * 26.7 / 1000.
@pytest.mark.parametrize("hw, max_area", [((32, 32), 1.0), ((28, 40), 0.933), ((50, 20), 0.533)])
def test_boxes_inside_image_with_area_and_ratio_in_range(hw, max_area):
    h, w = hw
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    boxes = sample_crop_boxes(4000, h, w, scale, ratio, generator=gen())
    x0, y0, bw, bh = boxes.unbind(1)
    tol = 1e-4
    assert (x0 >= -tol).all() and (y0 >= -tol).all()
    assert (x0 + bw <= w + tol).all() and (y0 + bh <= h + tol).all()
    area = bw * bh / (h * w)
    aspect = bw / bh
    fitted = (area >= scale[0] - tol) & (area <= scale[1] + tol)
    assert fitted.all()
    assert (aspect >= ratio[0] - tol).all() and (aspect <= ratio[1] + tol).all()
    # Area fractions are drawn uniformly among boxes that fit: they cover the whole feasible range.
    assert area.min() < 0.1 and area.max() > max_area - 0.05
    assert math.log(aspect.min()) < math.log(ratio[0]) + 0.02
    assert math.log(aspect.max()) > math.log(ratio[1]) - 0.02


def test_boxes_differ_per_sample_and_are_placed_uniformly():
    boxes = sample_crop_boxes(2000, 32, 32, generator=gen())
    assert torch.unique(boxes, dim=0).shape[0] == 2000
    # The placement fraction x0 / (W - w) is uniform on [0, 1]: mean about 1/2.
    slack = 32 - boxes[:, 2]
    frac = boxes[:, 0][slack > 1] / slack[slack > 1]
    assert abs(frac.mean().item() - 0.5) < 0.03


def test_fallback_central_crop_with_clamped_ratio_when_no_box_fits():
    # A 40x10 (h x w) image cannot hold a box of aspect 2-3 and area >= 0.9: every sample falls back
    # to the whole width with its height set by the clamped ratio, centred (as torchvision).
    boxes = sample_crop_boxes(64, 40, 10, scale=(0.9, 1.0), ratio=(2.0, 3.0), generator=gen())
    expected = torch.tensor([0.0, (40 - 5.0) / 2, 10.0, 5.0])
    torch.testing.assert_close(boxes, expected.expand(64, 4))


def test_full_box_without_flip_reproduces_input_and_resizes_bilinearly():
    x = torch.rand(6, 3, 32, 32, generator=gen(1))
    same = random_resized_crop(x, 32, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=gen())
    torch.testing.assert_close(same, x, atol=1e-6, rtol=0)
    bigger = random_resized_crop(x, 48, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=gen())
    reference = F.interpolate(x, size=(48, 48), mode="bilinear", align_corners=False)
    torch.testing.assert_close(bigger, reference, atol=1e-5, rtol=0)


def test_crop_samples_the_box_it_reports():
    # Bilinear interpolation of a linear ramp is exact, so output pixel j must read the ramp at
    # the box's j-th sample point: x0 + (j + 1/2) w / S - 1/2 in pixel-centre units, clamped to the
    # image (border padding); mirrored where the sample was flipped.
    h, w, size = 24, 40, 16
    x = ramp_images(300, h, w)
    out, params = random_resized_crop(x, size, flip_p=0.5, generator=gen(), return_params=True)
    x0, y0, bw, bh = params.boxes.unbind(1)
    j = torch.arange(size, dtype=torch.float32)
    want_x = (x0[:, None] + (j + 0.5) * bw[:, None] / size - 0.5).clamp(0, w - 1)
    want_x = torch.where(params.flipped[:, None], want_x.flip(1), want_x)
    want_y = (y0[:, None] + (j + 0.5) * bh[:, None] / size - 0.5).clamp(0, h - 1)
    torch.testing.assert_close(out[:, 0], want_x[:, None, :].expand(-1, size, -1), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[:, 1], want_y[:, :, None].expand(-1, -1, size), atol=1e-3, rtol=0)
    assert 0.4 < params.flipped.float().mean().item() < 0.6


def test_crop_coordinates_equal_affine_grid():
    boxes = sample_crop_boxes(5, 20, 30, generator=gen())
    flipped = torch.tensor([True, False, True, False, False])
    gx, gy = crop_coordinates(boxes, (20, 30), (7, 9), flipped)
    x0, y0, w, h = boxes.unbind(1)
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0] = torch.where(flipped, -w / 30, w / 30)
    theta[:, 0, 2] = (2 * x0 + w) / 30 - 1
    theta[:, 1, 1] = h / 20
    theta[:, 1, 2] = (2 * y0 + h) / 20 - 1
    reference = F.affine_grid(theta, [5, 3, 7, 9], align_corners=False)
    grid = torch.stack([gx[:, None, :].expand(5, 7, 9), gy[:, :, None].expand(5, 7, 9)], dim=-1)
    torch.testing.assert_close(grid, reference, atol=1e-6, rtol=0)


def test_resized_crop_of_integer_box_equals_slice():
    x = torch.rand(2, 1, 20, 20, generator=gen(2))
    boxes = torch.tensor([[3.0, 5.0, 8.0, 8.0], [0.0, 12.0, 8.0, 8.0]])
    out = resized_crop(x, boxes, 8)
    torch.testing.assert_close(out[0], x[0, :, 5:13, 3:11], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], x[1, :, 12:20, 0:8], atol=1e-6, rtol=0)
    flipped = resized_crop(x, boxes, 8, flipped=torch.tensor([True, False]))
    torch.testing.assert_close(flipped[0], x[0, :, 5:13, 3:11].flip(-1), atol=1e-6, rtol=0)


def test_non_square_output_size():
    x = torch.rand(3, 3, 32, 32, generator=gen())
    assert random_resized_crop(x, (16, 24), generator=gen()).shape == (3, 3, 16, 24)


def test_horizontal_flip_probabilities():
    x = torch.rand(1000, 1, 4, 6, generator=gen(3))
    assert torch.equal(horizontal_flip(x, 1.0, generator=gen()), x.flip(-1))
    assert torch.equal(horizontal_flip(x, 0.0, generator=gen()), x)
    out = horizontal_flip(x, 0.5, generator=gen())
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped ^ kept).all()  # every sample is exactly one or the other
    assert 0.45 < flipped.float().mean().item() < 0.55
    u8 = (x * 255).to(torch.uint8)
    assert torch.equal(horizontal_flip(u8, 1.0, generator=gen()), u8.flip(-1))


def test_same_seed_same_crops_other_seed_other_crops():
    x = torch.rand(8, 3, 32, 32, generator=gen(4))
    a = random_resized_crop(x, 32, flip_p=0.5, generator=gen(7))
    b = random_resized_crop(x, 32, flip_p=0.5, generator=gen(7))
    c = random_resized_crop(x, 32, flip_p=0.5, generator=gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_resize_matches_antialiased_interpolate_and_is_noop_at_size():
    x = torch.rand(2, 3, 28, 28, generator=gen())
    ref = F.interpolate(x, size=(14, 14), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(resize(x, 14), ref)
    assert resize(x, 28) is x


def test_bad_inputs_raise_clear_errors():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="scale"):
        random_resized_crop(x, 8, scale=(0.5, 0.2), generator=gen())
    with pytest.raises(ValueError, match="scale"):
        random_resized_crop(x, 8, scale=(0.0, 1.0), generator=gen())
    with pytest.raises(ValueError, match="ratio"):
        random_resized_crop(x, 8, ratio=(2.0, 1.0), generator=gen())
    with pytest.raises(ValueError, match="size"):
        random_resized_crop(x, 0, generator=gen())
    with pytest.raises(ValueError, match="flip_p"):
        random_resized_crop(x, 8, flip_p=1.5, generator=gen())
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        random_resized_crop(x[0], 8, generator=gen())
    with pytest.raises(TypeError, match="to_float"):
        random_resized_crop(x.to(torch.uint8), 8, generator=gen())
    with pytest.raises(TypeError, match="torch.Generator"):
        random_resized_crop(x, 8, generator=0)
    with pytest.raises(ValueError, match="boxes"):
        resized_crop(x, torch.zeros(3, 4), 8)


def test_random_crop_flip_is_the_float_crop_of_the_uint8_batch():
    images = torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8)
    got = random_crop_flip(images, 12, (0.3, 1.0), 0.5, generator=torch.Generator().manual_seed(3))
    want = random_resized_crop(
        images.float() / 255, 12, (0.3, 1.0), flip_p=0.5, generator=torch.Generator().manual_seed(3)
    )
    assert got.dtype == torch.float32 and got.shape == (6, 3, 12, 12)
    torch.testing.assert_close(got, want)
