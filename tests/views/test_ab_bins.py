"""Quantized ab bins: the in-gamut set, soft encoding, rebalancing and annealed-mean invariants."""

from __future__ import annotations

import pytest
import torch

from selfsup.views.ab_bins import (
    annealed_mean,
    bin_index,
    empirical_prior,
    in_gamut_ab_bins,
    rebalance_weights,
    smooth_prior,
    soft_encode,
)
from selfsup.views.lab import rgb_to_lab


def _brute_force_cells(levels: int) -> set[tuple[int, int]]:
    v = torch.linspace(0, 1, levels)
    cells: set[tuple[int, int]] = set()
    for r in v.split(max(1, levels // 8)):
        grid = torch.stack(torch.meshgrid(r, v, v, indexing="ij")).reshape(3, 1, -1)
        ab = rgb_to_lab(grid)[1:].reshape(2, -1)
        idx = torch.floor(ab / 10 + 0.5).long()
        cells |= set(map(tuple, idx.T.tolist()))
    return cells


def test_bins_are_on_the_grid_unique_and_cover_a_coarse_brute_force() -> None:
    c = in_gamut_ab_bins()
    assert c.shape == (261, 2)
    assert torch.equal(c, (c / 10).round() * 10)
    assert len({tuple(r) for r in c.tolist()}) == 261
    assert (0.0, 0.0) in {tuple(r) for r in c.tolist()}
    mine = {(int(a) // 10, int(b) // 10) for a, b in c.tolist()}
    assert _brute_force_cells(40) <= mine  # every cell a coarse sampling of sRGB hits is in the set


@pytest.mark.slow
def test_bins_equal_brute_force_over_all_8bit_colors() -> None:
    mine = {(int(a) // 10, int(b) // 10) for a, b in in_gamut_ab_bins().tolist()}
    assert _brute_force_cells(256) == mine


def test_soft_encode_matches_naive_reference() -> None:
    centers = in_gamut_ab_bins()
    g = torch.Generator().manual_seed(0)
    ab = (torch.rand(2, 2, 3, 3, generator=g) - 0.5) * 120
    z = soft_encode(ab, centers)
    assert z.shape == (2, 261, 3, 3)
    torch.testing.assert_close(z.sum(1), torch.ones(2, 3, 3))
    assert ((z > 0).sum(1) == 5).all()
    for b in range(2):
        for i in range(3):
            for j in range(3):
                d = ((centers - ab[b, :, i, j]) ** 2).sum(1).sqrt()
                near = d.argsort()[:5]
                w = torch.exp(-(d[near] ** 2) / 50)
                torch.testing.assert_close(z[b, near, i, j], w / w.sum())
    # a value at a bin center puts its largest weight there, and that bin is its nearest bin
    at_center = centers[[7, 100]].T.reshape(1, 2, 2, 1)
    assert z.shape[1] == 261
    assert soft_encode(at_center, centers).argmax(1).flatten().tolist() == [7, 100]
    assert bin_index(at_center, centers).flatten().tolist() == [7, 100]


def test_prior_smoothing_and_rebalancing_invariants() -> None:
    centers = in_gamut_ab_bins()
    g = torch.Generator().manual_seed(0)
    ab = torch.randn(4, 2, 8, 8, generator=g) * 15  # mostly desaturated, as natural images
    counts = empirical_prior(ab, centers)
    assert float(counts.sum()) == 4 * 8 * 8
    p = smooth_prior(counts, centers, sigma=5.0)
    assert abs(float(p.sum()) - 1) < 1e-6 and (p >= 0).all()
    torch.testing.assert_close(smooth_prior(counts, centers, sigma=1e-3), counts / counts.sum())
    w = rebalance_weights(p, 0.5)
    assert abs(float((p * w).sum()) - 1) < 1e-5  # E_p[w] = 1
    order = p.argsort()
    assert (w[order].diff() <= 1e-6).all()  # rarer bins weigh more
    bound = ((1 - 0.5) * float(p.max()) + 0.5 / 261) * 261 / 0.5  # the uniform mix caps the weight ratio
    assert float(w.max() / w.min()) <= bound * 1.0001
    torch.testing.assert_close(rebalance_weights(p, 1.0), torch.ones(261))  # lambda = 1: no rebalancing
    positive = (p + 1e-3) / (p + 1e-3).sum()
    full = positive * rebalance_weights(positive, 0.0)  # lambda = 0: every bin gets the same total weight
    torch.testing.assert_close(full, torch.full((261,), 1 / 261))


def test_annealed_mean_limits() -> None:
    centers = in_gamut_ab_bins()
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 261, 2, 2, generator=g) * 3
    mean = torch.einsum("bqhw,qc->bchw", logits.softmax(1), centers)
    torch.testing.assert_close(annealed_mean(logits, centers, 1.0), mean)
    mode = centers[logits.argmax(1)].permute(0, 3, 1, 2)
    torch.testing.assert_close(annealed_mean(logits, centers, 1e-3), mode, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="temperature"):
        annealed_mean(logits, centers, 0.0)
