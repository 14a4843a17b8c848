"""DINO's attention-mask Jaccard: the 60 %-mass threshold, pixel Jaccard and its aggregation, by hand."""

from __future__ import annotations

import pytest
import torch

from selfsup.eval.attention_masks import (
    dino_mass_mask,
    format_attention_table,
    jaccard,
    score_attention,
    upsample_masks,
)
from selfsup.viz.attention import mass_mask


def _official(maps: torch.Tensor, threshold: float = 0.6) -> torch.Tensor:
    """visualize_attention.py lines 186-195, written out naively: [heads, P] -> bool [heads, P]."""
    out = torch.zeros(maps.shape, dtype=torch.bool)
    for h in range(maps.shape[0]):
        val, idx = torch.sort(maps[h])
        val = val / val.sum()
        cum = torch.cumsum(val, dim=0)
        for rank, patch in enumerate(idx.tolist()):
            out[h, patch] = bool(cum[rank] > 1 - threshold)
    return out


def test_threshold_keeps_the_fewest_patches_holding_60_percent():
    # normalized [0.1, 0.4, 0.2, 0.3]; ascending cumsum 0.1, 0.3, 0.6, 1.0 -> keep cum > 0.4: 0.3 and 0.4.
    maps = torch.tensor([[[1.0, 4.0], [2.0, 3.0]]])
    assert dino_mass_mask(maps).tolist() == [[[False, True], [False, True]]]


def test_threshold_boundary_and_ties():
    # 0.3, 0.3, 0.2, 0.2: the two 0.3 hold exactly 60 %; the next 0.2 (cumsum from below 0.4, not > 0.4)
    # is left out: a patch that reaches exactly 60 % is kept, one beyond it is not.
    assert dino_mass_mask(torch.tensor([[3.0, 3.0], [2.0, 2.0]])).tolist() == [[True, True], [False, False]]
    # 0.4 then three tied 0.2: one 0.2 completes 60 %; among the ties the highest index is kept
    # (stable ascending sort: lower indices count as smaller), exactly as the official lines do on CPU.
    tied = torch.tensor([[2.0, 4.0], [2.0, 2.0]])
    assert dino_mass_mask(tied).tolist() == [[False, True], [False, True]]
    assert torch.equal(dino_mass_mask(tied).flatten(), _official(tied.view(1, 4))[0])
    # All-equal map: 60 % of 5 patches = 3 patches, the three highest indices.
    assert dino_mass_mask(torch.ones(1, 5)).tolist() == [[False, False, True, True, True]]


def test_threshold_matches_the_official_lines_and_the_viz_masks():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        ties = torch.randint(0, 4, (3, 16), generator=g).float() + 0.5  # many ties
        assert torch.equal(dino_mass_mask(ties.view(3, 4, 4)).view(3, 16), _official(ties))
        smooth = torch.rand(3, 64, generator=g).softmax(-1)
        kept = dino_mass_mask(smooth.view(3, 8, 8))
        assert torch.equal(kept.view(3, 64), _official(smooth))
        # Without ties the viz masks (descending sort) pick the same patches.
        assert torch.equal(kept, mass_mask(smooth.view(3, 8, 8)))
        assert bool(((smooth.view(3, 8, 8) * kept).sum((1, 2)) >= 0.6 - 1e-6).all())


def test_threshold_never_keeps_zero_attention_and_refuses_bad_input():
    maps = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    assert dino_mass_mask(maps, mass=1.0).tolist() == [[False, False], [True, True]]
    with pytest.raises(ValueError, match="mass"):
        dino_mass_mask(maps, mass=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        dino_mass_mask(-maps)


def test_jaccard_of_hand_built_masks_and_nearest_upsampling():
    pred = torch.zeros(4, 4, dtype=torch.bool)
    pred[0:2, 0:2] = True  # 4 px
    target = torch.zeros(4, 4, dtype=torch.bool)
    target[1:3, 0:3] = True  # 6 px, overlap rows 1, cols 0-1 = 2 px
    assert float(jaccard(pred, target)) == pytest.approx(2 / 8)
    assert float(jaccard(pred, pred)) == 1.0 and float(jaccard(pred, ~pred)) == 0.0
    up = upsample_masks(torch.tensor([[[[True, False], [False, True]]]]), (4, 4))[0, 0]
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[:2, :2] = expected[2:, 2:] = True
    assert torch.equal(up, expected)


def _one_hot_map(patch: int) -> torch.Tensor:
    """A 2x2 attention map with all mass on ``patch``: its 60 % mask is that patch alone."""
    m = torch.full((4,), 1e-6)
    m[patch] = 1.0
    return m.view(2, 2)


def test_per_head_best_and_mean_aggregation_over_objects_and_images():
    # 4x4 images, 2x2 patch grid (patch 2 px): a patch mask is one 2x2 pixel block.
    ids = torch.zeros(2, 4, 4, dtype=torch.uint8)
    ids[0, :2, :2] = 1  # image 0: one object, exactly patch 0
    ids[1, :2, :2] = 1  # image 1: object 1 = patch 0 ...
    ids[1, 2:, :] = 2  # ... object 2 = patches 2 and 3
    ids[1, 0, 3] = 255  # VOC void pixel: no object, and no mask covers it here
    # image 0: head 1 on the object, head 2 off; image 1: head 1 on half of object 2, head 2 on object 1.
    image0 = torch.stack([_one_hot_map(0), _one_hot_map(1)])
    image1 = torch.stack([_one_hot_map(3), _one_hot_map(0)])
    maps = torch.stack([image0, image1])
    r = score_attention("m", maps, ids)
    # image 0: J(head 1) = 1, J(head 2) = 0. image 1: object 1: (0, 1); object 2: (4/8, 0).
    torch.testing.assert_close(r.per_image_head, torch.tensor([[1.0, 0.0], [0.25, 0.5]], dtype=torch.float64))
    torch.testing.assert_close(r.per_image_best, torch.tensor([1.0, 0.75], dtype=torch.float64))
    assert r.per_head == pytest.approx([0.625, 0.25])
    assert r.best == pytest.approx(0.875)  # DINO: mean over images of (mean over objects of the best head)
    assert r.mean == pytest.approx(0.4375)
    assert r.best_head == 0 and r.kept_fraction == pytest.approx(0.25) and r.grid == (2, 2)
    table = format_attention_table([r])
    assert "| m | 2 | 2x2 | 87.5 | 43.8 | 1 (62.5) | 62.5 25.0 | 25.0 % |" in table


def test_an_image_without_objects_is_refused():
    ids = torch.zeros(1, 4, 4, dtype=torch.uint8)
    ids[0, 0, 0] = 255  # void only
    with pytest.raises(ValueError, match="image 0 has no object"):
        score_attention("m", torch.rand(1, 1, 2, 2), ids)
