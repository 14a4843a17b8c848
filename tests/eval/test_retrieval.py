"""Retrieval Recall@K on constructed embeddings with known ranks, several captions per image."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.eval.retrieval import retrieval_recall


def test_known_ranks_with_two_captions_per_image() -> None:
    e = torch.eye(4)
    images = e[:3]  # image k = e_k
    # captions: 0,1 -> image 0; 2 -> image 1; 3 -> image 2
    texts = torch.stack([e[0], e[1] + 0.1 * e[0], e[1], e[2] + 2.0 * e[3]])
    caption_image = torch.tensor([0, 0, 1, 2])
    r = retrieval_recall(images, texts, caption_image, ks=(1, 2))
    # image->text: img0 best caption 0 (rank 0); img1 best caption 2 (rank 0); img2 only caption 3,
    # cosine 1/√5 ≈ 0.447 with img2 while nothing else is > 0.447 -> rank 0 -> all R@1 = 1.
    assert r["i2t_R@1"] == 1.0
    # text->image: caption 1 (mostly e1, belongs to image 0) ranks image 1 first -> rank 1.
    assert r["t2i_R@1"] == 0.75 and r["t2i_R@2"] == 1.0
    assert r["chance_t2i_R@1"] == pytest.approx(1 / 3)
    # chance i2t R@1 with c captions of n=4: c/4 -> mean of (2/4, 1/4, 1/4)
    assert r["chance_i2t_R@1"] == pytest.approx((0.5 + 0.25 + 0.25) / 3)
    p2 = 1 - math.comb(2, 2) / math.comb(4, 2)
    assert r["chance_i2t_R@2"] == pytest.approx((p2 + 0.5 + 0.5) / 3)


def test_random_embeddings_near_chance_and_identity_perfect() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 32, generator=g)
    ids = torch.arange(200)
    perfect = retrieval_recall(x, x, ids)
    assert perfect["i2t_R@1"] == perfect["t2i_R@1"] == 1.0
    rand = retrieval_recall(x, torch.randn(200, 32, generator=g), ids)
    assert rand["t2i_R@10"] < 0.15 and rand["chance_t2i_R@10"] == pytest.approx(0.05)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="caption_image has"):
        retrieval_recall(torch.eye(2), torch.eye(2), torch.tensor([0]))
    with pytest.raises(ValueError, match="must index"):
        retrieval_recall(torch.eye(2), torch.eye(2), torch.tensor([0, 5]))
