"""Inpainting masks: the central square's exact position, random blocks' extent, mask application."""

from __future__ import annotations

import pytest
import torch

from selfsup.views.inpaint_masks import apply_mask, center_mask, make_mask, random_block_mask


def test_center_mask_is_the_central_half_side_square() -> None:
    m = center_mask(2, 28, 28)
    assert m.shape == (2, 1, 28, 28)
    assert float(m[0].sum()) == 14 * 14  # 1/4 of the area, as the paper's 64 px hole in 128 px images
    rows, cols = m[0, 0].nonzero().unbind(1)
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (7, 20, 7, 20)
    assert torch.equal(m, m.flip(-1)) and torch.equal(m, m.flip(-2))  # centered


def test_random_blocks_are_unions_of_squares_and_seeded() -> None:
    g = torch.Generator().manual_seed(0)
    m = random_block_mask(64, 32, 32, 0.25, 4, generator=g)
    area = m.sum((1, 2, 3))
    assert ((area >= 64) & (area <= 4 * 64)).all()  # at least one 8x8 block, at most 4 disjoint ones
    assert float(area.mean()) < 4 * 64  # overlaps happen
    one = random_block_mask(32, 32, 32, 0.25, 1, generator=torch.Generator().manual_seed(1))
    for mask in one[:, 0]:
        r, c = mask.nonzero().unbind(1)
        assert int(r.max() - r.min()) == 7 and int(c.max() - c.min()) == 7 and float(mask.sum()) == 64
    again = random_block_mask(64, 32, 32, 0.25, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(m, again)
    positions = {tuple(mask.nonzero()[0].tolist()) for mask in one[:, 0]}
    assert len(positions) > 10  # positions vary across the batch


def test_apply_mask_only_touches_masked_pixels() -> None:
    x = torch.randn(2, 3, 8, 8)
    m = make_mask(
        "blocks", 2, 8, 8, block_fraction=0.5, num_blocks=1, generator=torch.Generator().manual_seed(0)
    )
    out = apply_mask(x, m, fill=7.0)
    assert torch.equal(out[m.expand_as(x) == 0], x[m.expand_as(x) == 0])
    assert (out[m.expand_as(x) == 1] == 7.0).all()
    with pytest.raises(ValueError, match="mask must be"):
        apply_mask(x, m[:, :, :4])
    with pytest.raises(ValueError, match="'center' or 'blocks'"):
        make_mask("ring", 1, 8, 8, generator=torch.Generator())
    with pytest.raises(ValueError, match="fraction"):
        center_mask(1, 8, 8, 1.5)
