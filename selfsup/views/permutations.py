"""Jigsaw permutation sets chosen for large Hamming distance (Noroozi & Favaro 2016, Algorithm 1).

Jigsaw classifies which of ``N`` fixed tile permutations shuffled an image. The set is built
greedily from all ``T!`` permutations of ``T`` tiles (``9! = 362,880`` for a 3x3 grid): start from a
random permutation, then repeatedly add the candidate farthest from the permutations chosen so far.
The paper's Algorithm 1 scores a candidate by its summed Hamming distance to the chosen set
(``D̄ = 1ᵀD``); here the score is lexicographic: first the *minimum* Hamming distance to the chosen
set (so the set's minimum pairwise distance, which bounds how confusable two classes are, is
maximal for a greedy choice), then the summed distance of Algorithm 1, then a seeded random order.
The set is therefore a pure function of ``(n, seed, num_tiles)``. The paper's default is N = 100;
its ablation of the set compares sizes up to 1000 and sets of different minimum distance.

``permutation_set(n, seed)`` returns ``(perms [n, T] int64, min_distance)``; ``perms[j]`` lists, for
each output position, which original tile goes there (``shuffled[:, p] = tiles[:, perm[p]]``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

__all__ = [
    "apply_permutations",
    "hamming_distances",
    "invert_permutations",
    "min_pairwise_hamming",
    "permutation_set",
]


def hamming_distances(a: Tensor, b: Tensor) -> Tensor:
    """Hamming distances between rows: ``a [n, T]``, ``b [m, T]`` -> int64 ``[n, m]``."""
    return (a[:, None, :] != b[None, :, :]).sum(-1)


def min_pairwise_hamming(perms: Tensor) -> int:
    """Smallest Hamming distance between two different rows of ``perms [n, T]`` (n >= 2)."""
    if perms.shape[0] < 2:
        raise ValueError(f"min_pairwise_hamming needs at least 2 permutations, got {perms.shape[0]}")
    d = hamming_distances(perms, perms)
    d.fill_diagonal_(perms.shape[1] + 1)
    return int(d.min())


@lru_cache(maxsize=8)
def _all_permutations(num_tiles: int) -> Tensor:
    """All ``num_tiles!`` permutations in lexicographic order, uint8 ``[num_tiles!, num_tiles]``.

    Built recursively in tensors (``itertools`` takes seconds for 9! tuples): the permutations
    starting with ``i`` are ``i`` followed by those of the other values, in order.
    """
    perms = torch.zeros(1, 0, dtype=torch.uint8)
    for n in range(1, num_tiles + 1):
        values = torch.arange(n, dtype=torch.uint8)
        blocks = []
        for first in range(n):
            rest = torch.cat([values[:first], values[first + 1 :]])[perms.long()]
            blocks.append(torch.cat([torch.full((perms.shape[0], 1), first, dtype=torch.uint8), rest], 1))
        perms = torch.cat(blocks)
    return perms


@lru_cache(maxsize=16)
def _greedy(n: int, seed: int, num_tiles: int) -> tuple[Tensor, int]:
    g = torch.Generator().manual_seed(seed)
    # Candidates in a seeded random order: argmax returns the first maximum, so ties among equally far
    # candidates are broken at random, differently for each seed. Stored position-major ([T, T!]) so
    # each step compares T contiguous rows.
    order = torch.randperm(math.factorial(num_tiles), generator=g)
    candidates = _all_permutations(num_tiles)[order].t().contiguous()
    total = candidates.shape[1]
    weight = num_tiles * n + 1  # > any summed distance: the minimum distance decides first
    min_d = torch.full((total,), num_tiles, dtype=torch.uint8)
    sum_d = torch.zeros(total, dtype=torch.int32)
    d = torch.empty(total, dtype=torch.uint8)
    chosen = [int(torch.randint(total, (1,), generator=g))]  # Algorithm 1, line 3: j ~ U[1, T!]
    for _ in range(n - 1):
        last = candidates[:, chosen[-1]]
        d.zero_()
        for p in range(num_tiles):
            d.add_(candidates[p].ne(last[p]).view(torch.uint8))
        # A chosen permutation is at distance 0 from itself, every other one at >= 2: chosen ones
        # score lowest and are never picked again.
        torch.minimum(min_d, d, out=min_d)
        sum_d.add_(d)
        chosen.append(int((min_d.int() * weight + sum_d).argmax()))
    perms = candidates[:, chosen].t().long()
    return perms, min_pairwise_hamming(perms) if n > 1 else num_tiles


def permutation_set(n: int = 100, seed: int = 0, num_tiles: int = 9) -> tuple[Tensor, int]:
    """``n`` distinct permutations of ``num_tiles`` tiles chosen greedily for large Hamming distance.

    Returns ``(perms, min_distance)``: int64 ``[n, num_tiles]`` (row ``j`` is class ``j``) and the
    minimum Hamming distance between two rows (``num_tiles`` when ``n == 1``). Deterministic in
    ``(n, seed, num_tiles)``; a smaller ``n`` with the same seed gives a prefix of a larger set.
    About 5-10 ms per permutation for 9 tiles on one CPU core (all 9! candidates are scored each step).
    """
    if not 2 <= num_tiles <= 10:
        raise ValueError(
            f"num_tiles must be in [2, 10] (all num_tiles! candidates are enumerated), got {num_tiles}"
        )
    if not 1 <= n <= math.factorial(num_tiles):
        raise ValueError(
            f"n must be in [1, {num_tiles}! = {math.factorial(num_tiles)}] permutations of {num_tiles} tiles, got {n}"
        )
    perms, min_distance = _greedy(int(n), int(seed), int(num_tiles))
    return perms.clone(), min_distance


def apply_permutations(tiles: Tensor, perms: Tensor) -> Tensor:
    """Shuffle tiles: ``out[b, p] = tiles[b, perms[b, p]]`` for ``tiles [B, T, ...]``, ``perms [B, T]``."""
    if perms.shape != tiles.shape[:2]:
        raise ValueError(f"perms must have shape [B, T] = {tuple(tiles.shape[:2])}, got {tuple(perms.shape)}")
    index = perms.to(tiles.device).view(*perms.shape, *([1] * (tiles.ndim - 2))).expand_as(tiles)
    return tiles.gather(1, index)


def invert_permutations(perms: Tensor) -> Tensor:
    """Inverse of each row of ``perms [..., T]``: ``apply_permutations(apply_permutations(x, p), inv(p)) == x``."""
    return perms.argsort(dim=-1)
