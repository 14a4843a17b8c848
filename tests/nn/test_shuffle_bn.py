"""Shuffling BN: the permutation is undone exactly, and each group is normalised with its own statistics."""

import pytest
import torch
from distributed_helpers import run_gloo
from torch import nn

from selfsup.nn.shuffle_bn import (
    inverse_permutation,
    random_permutation,
    shuffled_forward,
    shuffled_forward_distributed,
)


def _center(part: torch.Tensor) -> torch.Tensor:
    """A batch-statistics op like BN: subtract the group's mean."""
    return part - part.mean(dim=0, keepdim=True)


def test_inverse_permutation():
    perm = random_permutation(10, torch.Generator().manual_seed(1), "cpu")
    x = torch.randn(10, 3)
    assert torch.equal(x[perm][inverse_permutation(perm)], x)
    assert sorted(perm.tolist()) == list(range(10))


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_identity_output_is_in_input_order(groups):
    x = torch.randn(8, 3)
    perm = random_permutation(8, torch.Generator().manual_seed(0), "cpu")
    assert torch.equal(shuffled_forward(lambda t: t * 1, x, groups, perm), x)


def test_each_group_uses_its_own_statistics():
    x = torch.randn(12, 3)
    perm = random_permutation(12, torch.Generator().manual_seed(3), "cpu")
    out = shuffled_forward(_center, x, 3, perm)
    expected = torch.empty_like(x)
    for g in range(3):
        rows = perm[4 * g : 4 * (g + 1)]
        expected[rows] = x[rows] - x[rows].mean(dim=0)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_batch_norm_differs_from_whole_batch_statistics():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3).train()
    x = torch.randn(16, 3)
    perm = random_permutation(16, torch.Generator().manual_seed(0), "cpu")
    whole = bn(x)
    assert torch.allclose(shuffled_forward(bn, x, 1, perm), whole, atol=1e-5)  # one group: same result
    assert not torch.allclose(shuffled_forward(bn, x, 4, perm), whole, atol=1e-3)


def test_groups_must_divide_the_batch():
    with pytest.raises(ValueError, match="shuffle_bn_groups"):
        shuffled_forward(_center, torch.randn(10, 2), 4, torch.arange(10))


def _shuffle_on_ranks(rank: int, world_size: int) -> dict:
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(rank))  # different data per rank
    # Each rank draws its own permutation; rank 0's must be the one used everywhere.
    perm = random_permutation(12, torch.Generator().manual_seed(100 + rank), "cpu")
    return {
        "x": x,
        "perm": perm,
        "identity": shuffled_forward_distributed(lambda t: t * 1, x, perm),
        "centered": shuffled_forward_distributed(_center, x, perm),
    }


@pytest.mark.multiprocess
def test_cross_rank_shuffle_is_undone_exactly():
    results = run_gloo(_shuffle_on_ranks, 2)
    x_all = torch.cat([r["x"] for r in results])
    perm = results[0]["perm"]
    expected = torch.empty_like(x_all)
    for r in range(2):  # rank r encoded global rows perm[6r : 6r + 6] with their own mean
        rows = perm[6 * r : 6 * (r + 1)]
        expected[rows] = x_all[rows] - x_all[rows].mean(dim=0)
    for r, res in enumerate(results):
        assert torch.equal(res["identity"], res["x"])
        torch.testing.assert_close(res["centered"], expected[6 * r : 6 * (r + 1)], rtol=0, atol=1e-6)
