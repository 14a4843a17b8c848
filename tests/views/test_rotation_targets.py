"""Rotation targets: exact inverse, agreement with a naive pixel formula, all-four batching."""

import pytest
import torch

from selfsup.views.rotation import all_rotations, rotate


def naive_rot90(img: torch.Tensor) -> torch.Tensor:
    """One counter-clockwise quarter turn of [C, S, S]: out[y, x] = in[x, S - 1 - y]."""
    s = img.shape[-1]
    out = torch.empty_like(img)
    for y in range(s):
        for x in range(s):
            out[:, y, x] = img[:, x, s - 1 - y]
    return out


def test_rotating_back_by_k_recovers_the_image_exactly():
    x = torch.randint(0, 256, (12, 3, 9, 9), dtype=torch.uint8)
    k = torch.randint(0, 4, (12,))
    assert torch.equal(rotate(rotate(x, k), -k), x)
    xf = torch.rand(12, 1, 7, 7)
    assert torch.equal(rotate(rotate(xf, k), 4 - k), xf)
    assert torch.equal(rotate(x, 4), x) and torch.equal(rotate(rotate(x, 1), 3), x)


def test_rotation_matches_the_pixel_formula_and_marker_moves_counter_clockwise():
    x = torch.rand(5, 3, 6, 6)
    k = torch.tensor([0, 1, 2, 3, 1])
    out = rotate(x, k)
    for i in range(5):
        expected = x[i]
        for _ in range(int(k[i])):
            expected = naive_rot90(expected)
        assert torch.equal(out[i], expected)
    marker = torch.zeros(1, 1, 4, 4)
    marker[0, 0, 0, 3] = 1.0  # top-right corner
    assert rotate(marker, 1)[0, 0, 0, 0] == 1  # 90 degrees counter-clockwise: top-left
    assert rotate(marker, 2)[0, 0, 3, 0] == 1  # 180: bottom-left


def test_all_rotations_stacks_each_image_in_four_turns_with_labels():
    x = torch.randint(0, 256, (3, 1, 5, 5), dtype=torch.uint8)
    views, labels = all_rotations(x)
    assert views.shape == (12, 1, 5, 5)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert torch.equal(views, rotate(x.repeat(4, 1, 1, 1), labels))
    assert torch.equal(rotate(views, -labels), x.repeat(4, 1, 1, 1))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="square"):
        rotate(torch.zeros(2, 1, 4, 5), 1)
    with pytest.raises(ValueError, match=r"k must be"):
        rotate(torch.zeros(2, 1, 4, 4), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="square"):
        all_rotations(torch.zeros(2, 3, 8, 6))
