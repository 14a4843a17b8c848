"""Jigsaw permutation sets: size, distinctness, determinism, min Hamming distance and the greedy rule
checked by brute force; shuffling and its inverse."""

import itertools

import pytest
import torch

from selfsup.views.permutations import (
    _all_permutations,
    apply_permutations,
    invert_permutations,
    min_pairwise_hamming,
    permutation_set,
)


def brute_min_distance(perms):
    rows = [tuple(r) for r in perms.tolist()]
    return min(dist(p, q) for p, q in itertools.combinations(rows, 2))


def dist(p, q):
    return sum(a != b for a, b in zip(p, q, strict=True))


@pytest.mark.parametrize(("n", "tiles"), [(10, 9), (30, 9), (6, 4), (24, 4), (40, 5)])
def test_size_distinct_valid_and_reported_min_distance_is_brute_force(n, tiles):
    perms, min_distance = permutation_set(n, seed=3, num_tiles=tiles)
    assert perms.shape == (n, tiles) and perms.dtype == torch.int64
    assert len({tuple(r) for r in perms.tolist()}) == n  # no duplicates
    assert all(sorted(r) == list(range(tiles)) for r in perms.tolist())  # each row is a permutation
    assert min_distance == brute_min_distance(perms) == min_pairwise_hamming(perms)


@pytest.mark.parametrize("tiles", [4, 5])
def test_each_pick_maximizes_the_min_distance_to_the_chosen_ones(tiles):
    """Brute force over all tiles! candidates: the greedy step is the max-min choice."""
    n = 12
    perms, _ = permutation_set(n, seed=1, num_tiles=tiles)
    rows = [tuple(r) for r in perms.tolist()]
    everything = list(itertools.permutations(range(tiles)))
    for k in range(1, n):
        best = max(min(dist(c, p) for p in rows[:k]) for c in everything if c not in rows[:k])
        assert min(dist(rows[k], p) for p in rows[:k]) == best


def test_nine_tile_sets_are_far_apart_and_deterministic():
    perms, min_distance = permutation_set(100, seed=0)
    assert min_distance >= 6  # max-min greedy over 9!: every pair differs in >= 6 of 9 positions
    again, _ = permutation_set(100, seed=0)
    assert torch.equal(perms, again)
    other, _ = permutation_set(20, seed=1)
    assert not torch.equal(perms[:20], other)
    prefix, _ = permutation_set(20, seed=0)
    assert torch.equal(prefix, perms[:20])  # the greedy order does not depend on n


def test_candidates_are_all_permutations_in_lexicographic_order():
    assert _all_permutations(5).tolist() == [list(p) for p in itertools.permutations(range(5))]
    assert _all_permutations(9).shape == (362880, 9)


def test_all_permutations_of_three_tiles():
    perms, min_distance = permutation_set(6, seed=0, num_tiles=3)
    assert sorted(map(tuple, perms.tolist())) == sorted(itertools.permutations(range(3)))
    assert min_distance == 2


def test_apply_and_invert_permutations():
    tiles = torch.randn(4, 9, 2, 3, 3)
    perms = torch.stack([torch.randperm(9) for _ in range(4)])
    shuffled = apply_permutations(tiles, perms)
    for b in range(4):
        for p in range(9):
            assert torch.equal(shuffled[b, p], tiles[b, perms[b, p]])
    assert torch.equal(apply_permutations(shuffled, invert_permutations(perms)), tiles)
    with pytest.raises(ValueError, match="perms must have shape"):
        apply_permutations(tiles, perms[:, :4])


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="n must be in"):
        permutation_set(25, num_tiles=4)
    with pytest.raises(ValueError, match="n must be in"):
        permutation_set(0)
    with pytest.raises(ValueError, match="num_tiles"):
        permutation_set(5, num_tiles=11)
