"""Embedding layouts keep separated clusters apart; retrieval returns the true cosine neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import silhouette_score

from selfsup.viz.embeddings import (
    cosine_neighbours,
    embed_2d,
    save_embedding_png,
    save_retrieval_png,
    umap_available,
)


def _clusters(
    n_per: int = 40, k: int = 4, dim: int = 64, noise: float = 0.05
) -> tuple[torch.Tensor, np.ndarray]:
    """``k`` tight clusters around orthogonal directions (so also separated in cosine geometry)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.eye(dim)[:k] * 3.0
    x = torch.cat([c + noise * torch.randn(n_per, dim, generator=g) for c in centers])
    return x, np.repeat(np.arange(k), n_per)


def test_tsne_shape_and_separated_clusters_stay_separated() -> None:
    x, labels = _clusters()
    coords, used = embed_2d(x, method="tsne", seed=0)
    assert used == "tsne"
    assert coords.shape == (x.shape[0], 2) and coords.dtype == np.float32
    # Every point's nearest 2-D neighbour is in its own cluster, and the clusters are compact.
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).all()
    assert silhouette_score(coords, labels) > 0.6
    # The farthest pair inside a cluster is closer than the closest pair across clusters.
    same = labels[:, None] == labels[None]
    np.fill_diagonal(d, 0)
    assert d[same].max() < d[~same].min()


def test_embed_2d_is_deterministic_for_a_seed_and_uses_cosine_geometry() -> None:
    x, _ = _clusters(n_per=15, k=3)
    a, _ = embed_2d(x, method="tsne", seed=3)
    b, _ = embed_2d(x, method="tsne", seed=3)
    np.testing.assert_array_equal(a, b)
    # A (norm 0.1 along e1) and B (norm 0.1 along e2) are close in Euclidean distance; C (norm 10
    # along e1) is far from both. In cosine geometry A and C coincide and B is apart, and the
    # layout must show that: A next to C, B away from both.
    g = torch.Generator().manual_seed(0)
    e = torch.eye(16)

    def blob(direction: torch.Tensor, norm: float) -> torch.Tensor:
        return norm * (direction + 0.05 * torch.randn(20, 16, generator=g))

    a, b, c = blob(e[0], 0.1), blob(e[1], 0.1), blob(e[0], 10.0)
    assert (a.mean(0) - b.mean(0)).norm() < 0.2 < 9.0 < (a.mean(0) - c.mean(0)).norm()
    coords, _ = embed_2d(torch.cat([a, b, c]), method="tsne", seed=0)
    ca, cb, cc = (coords[i * 20 : (i + 1) * 20].mean(0) for i in range(3))
    assert np.linalg.norm(ca - cc) < 0.5 * min(np.linalg.norm(ca - cb), np.linalg.norm(cc - cb))
    labels = np.repeat([0, 1, 0], 20)  # by direction
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).all()


def test_auto_picks_tsne_without_umap_and_umap_request_fails_clearly() -> None:
    x, _ = _clusters(n_per=5, k=2, dim=8)
    _, used = embed_2d(x, method="auto")
    assert used == ("umap" if umap_available() else "tsne")
    if not umap_available():
        with pytest.raises(ValueError, match="umap-learn"):
            embed_2d(x, method="umap")
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        embed_2d(torch.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        embed_2d(torch.full((10, 3), float("nan")))
    with pytest.raises(ValueError, match="method"):
        embed_2d(x, method="pca")


def _naive_neighbours(q: torch.Tensor, g: torch.Tensor, k: int, exclude: list[int] | None) -> list[list[int]]:
    out = []
    for i in range(q.shape[0]):
        sims = []
        for j in range(g.shape[0]):
            if exclude is not None and exclude[i] == j:
                continue
            cos = float(q[i] @ g[j]) / (float(q[i].norm()) * float(g[j].norm()))
            sims.append((-cos, j))
        out.append([j for _, j in sorted(sims)[:k]])
    return out


def test_cosine_neighbours_match_a_naive_loop_and_exclude_the_query() -> None:
    g = torch.Generator().manual_seed(1)
    gallery = torch.randn(50, 12, generator=g)
    queries_idx = [3, 17, 42]
    idx, sims = cosine_neighbours(gallery[queries_idx], gallery, 5, query_indices=queries_idx)
    assert idx.tolist() == _naive_neighbours(gallery[queries_idx], gallery, 5, queries_idx)
    for r, qi in enumerate(queries_idx):
        assert qi not in idx[r].tolist()
        expected = torch.nn.functional.cosine_similarity(gallery[qi : qi + 1], gallery[idx[r]])
        torch.testing.assert_close(sims[r], expected, atol=1e-5, rtol=0)
        assert bool((sims[r][:-1] >= sims[r][1:]).all())
    # Without query_indices the query (a gallery row) is its own top neighbour with similarity 1.
    idx2, sims2 = cosine_neighbours(gallery[queries_idx], gallery, 1)
    assert idx2.flatten().tolist() == queries_idx
    torch.testing.assert_close(sims2.flatten(), torch.ones(3), atol=1e-6, rtol=0)


def test_constructed_neighbours_by_angle_not_by_euclidean_distance() -> None:
    # Gallery item j sits at angle 10 * j degrees from the query; far items are made short so that
    # Euclidean nearest neighbours would come out in the opposite order.
    angles = torch.deg2rad(torch.arange(0, 90, 10).double())
    norms = torch.linspace(5.0, 0.1, angles.numel()).double()
    gallery = torch.stack([torch.cos(angles), torch.sin(angles)], 1) * norms.unsqueeze(1)
    query = torch.tensor([[1.0, 0.0]]).double()
    perm = torch.randperm(angles.numel(), generator=torch.Generator().manual_seed(0))
    idx, _ = cosine_neighbours(query, gallery[perm], 4)
    assert perm[idx[0]].tolist() == [0, 1, 2, 3]
    euclid = (gallery - query).norm(dim=1).argsort()[:4].tolist()
    assert euclid != [0, 1, 2, 3]


def test_cosine_neighbours_bad_input() -> None:
    x = torch.randn(6, 4)
    with pytest.raises(ValueError, match="k must be in"):
        cosine_neighbours(x[:1], x, 6, query_indices=[0])
    with pytest.raises(ValueError, match="dims"):
        cosine_neighbours(torch.randn(1, 3), x, 2)
    with pytest.raises(ValueError, match="query_indices"):
        cosine_neighbours(x[:2], x, 2, query_indices=[0])


def test_pngs_decode_with_the_expected_layout(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.arange(20) % 3
    feats = torch.randn(20, 5, generator=g)
    q = torch.tensor([0, 5, 9])
    idx, sims = cosine_neighbours(feats[q], feats, 4, query_indices=q)
    path = save_retrieval_png(images[q], images, idx, sims, tmp_path / "r.png", labels[q], labels)
    with Image.open(path) as im:
        w, h = im.size
    assert w > h  # 3 rows of 1 + 4 panels
    coords = np.random.default_rng(0).normal(size=(20, 2))
    for lab in (labels, None, -torch.ones(20, dtype=torch.long)):
        with Image.open(save_embedding_png(coords, tmp_path / "e.png", labels=lab)) as im:
            im.verify()
    with pytest.raises(ValueError, match="coords"):
        save_embedding_png(np.zeros((5, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="uint8"):
        save_retrieval_png(images[q].float(), images, idx, sims, tmp_path / "x.png")
