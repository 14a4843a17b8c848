"""J and F against hand-computed values and a brute-force re-derivation of the DAVIS definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfsup.eval.jf import (
    boundary_map,
    boundary_tolerance,
    contour_accuracy,
    region_similarity,
    statistics,
)


def _rect(shape: tuple[int, int], r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def test_region_similarity_hand_built() -> None:
    gt = _rect((10, 10), 0, 4, 0, 4)  # 16 px
    pred = _rect((10, 10), 0, 4, 2, 6)  # 16 px, 8 shared
    assert region_similarity(pred, gt) == pytest.approx(8 / 24)
    # Void pixels are removed from both masks: voiding the prediction's extra columns leaves 8 / 16.
    assert region_similarity(pred, gt, void=_rect((10, 10), 0, 4, 4, 6)) == pytest.approx(8 / 16)
    assert region_similarity(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert region_similarity(np.zeros((3, 3)), np.ones((3, 3))) == 0.0
    with pytest.raises(ValueError, match="same size"):
        region_similarity(np.zeros((3, 3)), np.zeros((3, 4)))


def _naive_boundary(m: np.ndarray) -> np.ndarray:
    h, w = m.shape
    b = np.zeros_like(m)
    for i in range(h):
        for j in range(w):
            neighbours = []
            if j + 1 < w:
                neighbours.append(m[i, j + 1])
            if i + 1 < h:
                neighbours.append(m[i + 1, j])
            if i + 1 < h and j + 1 < w:
                neighbours.append(m[i + 1, j + 1])
            b[i, j] = any(n != m[i, j] for n in neighbours)
    return b


def _naive_f(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    pb, gb = np.argwhere(_naive_boundary(pred)), np.argwhere(_naive_boundary(gt))
    if len(pb) == 0 and len(gb) == 0:
        return 1.0
    if len(pb) == 0 or len(gb) == 0:
        return 0.0

    def matched(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean([min(math.dist(p, q) for q in b) <= radius for p in a]))

    precision, recall = matched(pb, gb), matched(gb, pb)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_boundary_map_matches_neighbour_definition() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = rng.random((9, 11)) < 0.4
        assert np.array_equal(boundary_map(m), _naive_boundary(m))
    assert not boundary_map(np.ones((5, 5), bool)).any()


def test_contour_accuracy_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    shape = (40, 50)
    radius = boundary_tolerance(shape)
    assert radius == math.ceil(0.008 * math.hypot(40, 50)) == 1
    for _ in range(4):
        gt = _rect(shape, *sorted(rng.integers(0, 40, 2)), *sorted(rng.integers(0, 50, 2)))
        pred = gt ^ (rng.random(shape) < 0.05)
        assert contour_accuracy(pred, gt) == pytest.approx(_naive_f(pred, gt, radius))


def test_contour_accuracy_tolerance_and_edge_cases() -> None:
    shape = (300, 400)  # diagonal 500 -> tolerance ceil(4.0) = 4 px
    assert boundary_tolerance(shape) == 4
    gt = _rect(shape, 100, 200, 100, 200)
    assert contour_accuracy(gt, gt) == 1.0
    assert contour_accuracy(_rect(shape, 100, 200, 104, 204), gt) == 1.0  # shifted by the tolerance
    assert contour_accuracy(_rect(shape, 100, 200, 110, 210), gt) < 0.6  # only the long edges match
    assert contour_accuracy(_rect(shape, 100, 200, 250, 350), gt) == 0.0  # far away
    empty = np.zeros(shape, bool)
    assert contour_accuracy(empty, empty) == 1.0
    assert contour_accuracy(empty, gt) == 0.0 and contour_accuracy(gt, empty) == 0.0
    # Voiding the whole object leaves two empty masks: a perfect match.
    assert contour_accuracy(_rect(shape, 0, 50, 0, 50), gt, void=gt | _rect(shape, 0, 50, 0, 50)) == 1.0


def test_statistics_mean_recall_decay() -> None:
    x = np.arange(8) / 10  # 0.0 .. 0.7
    s = statistics(x)
    assert s.mean == pytest.approx(0.35)
    assert s.recall == pytest.approx(2 / 8)  # 0.6, 0.7 > 0.5
    # Quarters of 8 frames as the benchmark splits them: [0:3] and [5:8].
    assert s.decay == pytest.approx(np.mean(x[0:3]) - np.mean(x[5:8]))
    assert statistics(np.ones(5)).decay == 0.0
    with pytest.raises(ValueError, match="at least one"):
        statistics(np.array([]))
