"""RGB <-> Lab: agreement with scikit-image, round trip, closed-form anchors, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color, data

from selfsup.views.lab import lab_to_rgb, normalize_ab, normalize_l, rgb_to_lab


def _photo() -> torch.Tensor:
    img = data.astronaut()[::8, ::8] / 255.0  # a real photo, 64x64
    return torch.from_numpy(img).permute(2, 0, 1)[None]


def _random_rgb(n: int = 4096) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, n, 1, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("source", ["photo", "random"])
def test_rgb_to_lab_matches_skimage(source: str) -> None:
    x = _photo() if source == "photo" else _random_rgb()
    ref = color.rgb2lab(x[0].permute(1, 2, 0).numpy())
    mine64 = rgb_to_lab(x)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(mine64, ref, atol=1e-6)
    mine32 = rgb_to_lab(x.float())[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(mine32, ref, atol=2e-3)


def test_lab_to_rgb_matches_skimage_including_out_of_gamut() -> None:
    g = torch.Generator().manual_seed(1)
    lab = (
        torch.stack(
            [
                torch.rand(500, generator=g) * 100,
                torch.rand(500, generator=g) * 240 - 120,
                torch.rand(500, generator=g) * 240 - 120,
            ]
        )
        .double()
        .view(3, 500, 1)
    )
    ref = color.lab2rgb(lab.permute(1, 2, 0).numpy())  # warns about clipped negative Z
    np.testing.assert_allclose(lab_to_rgb(lab).permute(1, 2, 0).numpy(), ref, atol=1e-6)


def test_round_trip_over_all_8bit_levels() -> None:
    v = torch.arange(256, dtype=torch.float32) / 255
    grid = torch.stack(torch.meshgrid(v[::5], v[::5], v[::5], indexing="ij")).reshape(1, 3, -1, 1)
    back = lab_to_rgb(rgb_to_lab(grid))
    assert float((back - grid).abs().max()) < 1e-4  # far below half an 8-bit step (0.002)


def test_anchor_values_and_batching() -> None:
    white, black = torch.ones(3, 1, 1), torch.zeros(3, 1, 1)
    # skimage's rounded matrix and white point leave white at a, b ~ 0.005 / -0.01, not exactly 0
    ref = torch.from_numpy(color.rgb2lab(np.ones((1, 1, 3)))).flatten().float()
    torch.testing.assert_close(rgb_to_lab(white.double()).flatten().float(), ref, atol=1e-5, rtol=0)
    assert abs(float(rgb_to_lab(white)[0]) - 100) < 1e-3
    torch.testing.assert_close(rgb_to_lab(black).flatten(), torch.zeros(3), atol=1e-6, rtol=0)
    gray = torch.full((1, 3, 2, 2), 0.37)
    assert float(rgb_to_lab(gray)[:, 1:].abs().max()) < 1e-2  # neutral: a = b = 0 up to skimage's rounding
    photo = _photo().float()
    batch = torch.cat([photo, photo.flip(-1)])
    torch.testing.assert_close(rgb_to_lab(batch)[1], rgb_to_lab(photo.flip(-1))[0])
    lab = rgb_to_lab(photo)
    assert -1 <= float(normalize_l(lab[:, :1]).min()) and float(normalize_l(lab[:, :1]).max()) <= 1
    assert float(normalize_ab(lab[:, 1:]).abs().max()) <= 1


def test_gradients_are_finite_at_black_and_white() -> None:
    x = torch.tensor([0.0, 1.0, 0.5, 0.003]).view(1, 1, 4, 1).repeat(1, 3, 1, 1).requires_grad_()
    rgb_to_lab(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_bad_input_errors() -> None:
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_lab(torch.rand(2, 1, 4, 4))
    with pytest.raises(TypeError, match="x / 255"):
        rgb_to_lab(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
