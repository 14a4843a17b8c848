"""Random-region masks: exact area per image, a different shape per image, reproducible, errors."""

from __future__ import annotations

import pytest
import torch

from selfsup.views.region_mask import random_region_mask


def test_every_image_loses_exactly_the_requested_area() -> None:
    mask = random_region_mask(16, 28, 28, coverage=0.25, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (16, 1, 28, 28) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(mask.sum((1, 2, 3)), torch.full((16,), float(round(0.25 * 784))))


def test_shapes_differ_between_images_and_are_reproducible() -> None:
    a = random_region_mask(8, 20, 24, coverage=0.3, grid=5, generator=torch.Generator().manual_seed(3))
    b = random_region_mask(8, 20, 24, coverage=0.3, grid=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert len({tuple(m.flatten().tolist()) for m in a}) == 8  # no two images share a hole
    # irregular, unlike a square: the bounding box of the hole holds more than the hole
    rows, cols = a[0, 0].any(1).nonzero(), a[0, 0].any(0).nonzero()
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert int(box) > int(a[0].sum())


def test_the_hole_is_made_of_few_smooth_blobs_not_salt_noise() -> None:
    mask = random_region_mask(32, 28, 28, generator=torch.Generator().manual_seed(1))[:, 0]
    # fraction of horizontally adjacent pixel pairs that disagree: a smooth blob has few edges
    edges = (mask[:, :, 1:] != mask[:, :, :-1]).float().mean()
    assert float(edges) < 0.1  # i.i.d. pixels with p = 1/4 would give 2 * 0.25 * 0.75 = 0.375


def test_bad_arguments_name_the_argument() -> None:
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="coverage"):
        random_region_mask(2, 8, 8, coverage=1.0, generator=g)
    with pytest.raises(ValueError, match="grid"):
        random_region_mask(2, 8, 8, grid=1, generator=g)
