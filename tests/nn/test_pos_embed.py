"""2-D sin-cos position embeddings against their closed form (MAE / Vaswani et al.)."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.nn.pos_embed import sincos_1d, sincos_2d


def test_sincos_1d_closed_form() -> None:
    dim, pos = 8, torch.arange(5)
    emb = sincos_1d(dim, pos)
    for p in range(5):
        for k in range(dim // 2):
            omega = 1.0 / 10000 ** (k / (dim / 2))
            assert emb[p, k].item() == pytest.approx(math.sin(p * omega), abs=1e-6)
            assert emb[p, dim // 2 + k].item() == pytest.approx(math.cos(p * omega), abs=1e-6)


def test_sincos_2d_layout_and_cls_row() -> None:
    dim, grid = 16, (3, 4)
    emb = sincos_2d(dim, grid, cls_token=True)
    assert emb.shape == (1 + 12, dim)
    assert torch.equal(emb[0], torch.zeros(dim))
    patches = emb[1:].view(3, 4, dim)
    # first half encodes the column, second half the row
    assert torch.allclose(patches[:, 1, : dim // 2], sincos_1d(dim // 2, torch.tensor([1])).expand(3, -1))
    assert torch.allclose(patches[2, :, dim // 2 :], sincos_1d(dim // 2, torch.tensor([2])).expand(4, -1))
    assert torch.unique(emb[1:], dim=0).shape[0] == 12  # every position distinct


def test_dot_product_depends_only_on_relative_offset() -> None:
    emb = sincos_2d(32, (6, 6)).view(6, 6, 32)
    a = emb[1, 2] @ emb[3, 4]
    b = emb[2, 1] @ emb[4, 3]
    assert a.item() == pytest.approx(b.item(), abs=1e-5)


def test_dim_must_be_multiple_of_four() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d(10, (2, 2))
