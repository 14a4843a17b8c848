"""Label-free quality signals on embeddings with known values."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.monitors.quality import alignment, embedding_std, quality_signals, rankme, uniformity


def test_rankme_rank_one_and_orthogonal() -> None:
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(50, 1, generator=g), torch.randn(1, 16, generator=g)
    assert rankme(u @ v) == pytest.approx(1.0, abs=1e-4)  # collapsed onto a line
    eye = torch.eye(16) * 3.0
    assert rankme(eye) == pytest.approx(16.0, rel=1e-4)  # D equal singular values
    assert rankme(torch.cat([eye, -eye])) == pytest.approx(16.0, rel=1e-4)
    # Two equal singular values and the rest zero: effective rank 2.
    two = torch.zeros(10, 8)
    two[0, 0], two[1, 1] = 5.0, 5.0
    assert rankme(two) == pytest.approx(2.0, rel=1e-3)
    assert rankme(torch.zeros(4, 3)) == 1.0


def test_rankme_matches_naive_entropy_formula() -> None:
    z = torch.randn(40, 12, generator=torch.Generator().manual_seed(1))
    s = torch.linalg.svdvals(z.double())
    p = s / s.sum() + 1e-7
    assert rankme(z) == pytest.approx(math.exp(-sum(float(pk) * math.log(float(pk)) for pk in p)), rel=1e-9)


def test_alignment_closed_forms() -> None:
    z = torch.randn(20, 8, generator=torch.Generator().manual_seed(2))
    assert alignment(z, 3 * z) == pytest.approx(0.0, abs=1e-12)  # same direction after normalization
    assert alignment(z, -z) == pytest.approx(4.0)  # antipodal: ||2u||^2
    e = torch.eye(2)
    assert alignment(e[:1], e[1:]) == pytest.approx(2.0)  # orthogonal unit vectors: ||u - v||^2 = 2
    assert alignment(e[:1], e[1:], alpha=1) == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="paired"):
        alignment(z, z[:5])


def test_uniformity_closed_forms_and_naive_reference() -> None:
    # Identical points: every distance 0 -> log(1) = 0 (total collapse).
    assert uniformity(torch.ones(5, 3)) == pytest.approx(0.0)
    # Two antipodal points: distance^2 = 4 -> -2 * 4 = -8 at t = 2.
    assert uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    # N evenly spaced points on the circle: naive double loop over i != j.
    n = 12
    angles = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    z = torch.stack([angles.cos(), angles.sin()], 1)
    terms = [math.exp(-2 * float((z[i] - z[j]).pow(2).sum())) for i in range(n) for j in range(n) if i != j]
    assert uniformity(z) == pytest.approx(math.log(sum(terms) / len(terms)), rel=1e-9)
    # Spread points are more uniform (lower) than clustered ones.
    clustered = torch.tensor([[1.0, 0.0]]) + 0.01 * torch.randn(
        12, 2, generator=torch.Generator().manual_seed(0)
    )
    assert uniformity(z) < uniformity(clustered) - 1.0


def test_uniform_on_high_dim_sphere_approaches_minus_2t() -> None:
    z = torch.randn(2000, 256, generator=torch.Generator().manual_seed(3))
    assert uniformity(z) == pytest.approx(-4.0, abs=0.05)
    assert embedding_std(z) == pytest.approx(1 / math.sqrt(256), rel=0.05)


def test_embedding_std_collapse_is_zero_and_signals_bundle() -> None:
    assert embedding_std(torch.ones(10, 4) * 7) == pytest.approx(0.0, abs=1e-12)
    z = torch.randn(30, 6, generator=torch.Generator().manual_seed(4))
    signals = quality_signals(z, z)
    assert set(signals) == {"rankme", "uniformity", "embedding_std", "alignment"}
    assert signals["alignment"] == pytest.approx(0.0, abs=1e-12)
    assert "alignment" not in quality_signals(z)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="2-D"):
        rankme(torch.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        uniformity(torch.tensor([[float("nan"), 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(torch.ones(1, 3))
