"""Embedding plots and nearest-neighbour retrieval grids of an encoder's features.

- ``embed_2d(features)``: ``[N, D] -> [N, 2]``. The features are L2-normalized first (kNN and
  retrieval compare them by cosine similarity, so this is the geometry that matters), reduced to
  at most 50 dimensions with PCA (the usual t-SNE preprocessing, van der Maaten & Hinton 2008,
  §5) and laid out with UMAP (McInnes et al. 2018) when the ``umap`` package is importable, else
  scikit-learn's t-SNE (perplexity 30, the paper's default, capped at ``(N - 1) / 3`` for small N;
  PCA initialization, which keeps the global layout stable across seeds, Kobak & Linderman 2021).
- ``cosine_neighbours(queries, gallery, k)``: top-``k`` gallery items by cosine similarity, with
  the query itself left out when the query set is the gallery.
- ``save_embedding_png`` / ``save_retrieval_png``: the two pictures as PNG files (matplotlib's
  object API, no ``pyplot``, so no global backend state and no display needed).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.viz.figure import save_figure

__all__ = [
    "TSNE_PERPLEXITY",
    "cosine_neighbours",
    "embed_2d",
    "save_embedding_png",
    "save_retrieval_png",
    "umap_available",
]

TSNE_PERPLEXITY = 30.0  # van der Maaten & Hinton 2008; scikit-learn's default
PCA_DIMS = 50  # t-SNE on > 50-D inputs is usually preceded by PCA to 50-D (van der Maaten 2014)


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def _check_features(features: Tensor | np.ndarray, name: str, min_rows: int) -> Tensor:
    z = torch.as_tensor(np.asarray(features) if not isinstance(features, Tensor) else features)
    if z.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D] features, got shape {tuple(z.shape)}")
    if z.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {z.shape[0]}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"{name} contains NaN or inf; check the encoder's outputs")
    return z.detach().float().cpu()


def embed_2d(
    features: Tensor | np.ndarray,
    method: str = "auto",
    seed: int = 0,
    perplexity: float = TSNE_PERPLEXITY,
) -> tuple[np.ndarray, str]:
    """2-D layout of ``features [N, D]`` (N >= 5): returns ``(coords float32 [N, 2], method used)``.

    ``method``: "auto" (UMAP if installed, else t-SNE), "tsne" or "umap". Deterministic for a seed.
    """
    if method not in ("auto", "tsne", "umap"):
        raise ValueError(f"method must be 'auto', 'tsne' or 'umap', got {method!r}")
    z = F.normalize(_check_features(features, "features", min_rows=5), dim=1).double().numpy()
    if method == "umap" and not umap_available():
        raise ValueError("method='umap' needs the umap-learn package (pip install umap-learn); or use 'tsne'")
    use = "umap" if method == "umap" or (method == "auto" and umap_available()) else "tsne"
    n, d = z.shape
    if d > PCA_DIMS and n > PCA_DIMS:
        from sklearn.decomposition import PCA

        z = PCA(n_components=PCA_DIMS, random_state=seed).fit_transform(z)
    if use == "umap":
        import umap

        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, n - 1))
        return np.asarray(reducer.fit_transform(z), dtype=np.float32), "umap"
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, (n - 1) / 3.0),
        init="pca",
        random_state=seed,
        learning_rate="auto",
    )
    return np.asarray(tsne.fit_transform(z), dtype=np.float32), "tsne"


def cosine_neighbours(
    queries: Tensor, gallery: Tensor, k: int, query_indices: Tensor | Sequence[int] | None = None
) -> tuple[Tensor, Tensor]:
    """Top-``k`` gallery rows by cosine similarity: ``(indices int64 [Q, k], similarities [Q, k])``.

    queries: ``[Q, D]``; gallery: ``[N, D]``. ``query_indices[q]`` is the gallery row of query
    ``q`` when the queries are drawn from the gallery; that row is never returned for ``q``.
    Sorted by decreasing similarity; ties go to the lower gallery index.
    """
    q = F.normalize(_check_features(queries, "queries", 1).double(), dim=1)
    g = F.normalize(_check_features(gallery, "gallery", 1).double(), dim=1)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dims but the gallery has {g.shape[1]}")
    available = g.shape[0] - (1 if query_indices is not None else 0)
    if not 1 <= k <= available:
        raise ValueError(f"k must be in [1, {available}] for a gallery of {g.shape[0]} items, got {k}")
    sims = q @ g.T  # [Q, N]
    if query_indices is not None:
        idx = torch.as_tensor(query_indices, dtype=torch.int64).flatten()
        if idx.numel() != q.shape[0]:
            raise ValueError(f"query_indices has {idx.numel()} entries for {q.shape[0]} queries")
        sims[torch.arange(q.shape[0]), idx] = -float("inf")
    # Stable sort on the negated similarity: equal similarities keep gallery order.
    order = torch.sort(-sims, dim=1, stable=True).indices[:, :k]
    return order, sims.gather(1, order).float()


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_embedding_png(
    coords: np.ndarray,
    path: str | Path,
    labels: Tensor | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Scatter of ``coords [N, 2]`` coloured by ``labels [N]`` (labels < 0 or None: one colour)."""
    coords = np.asarray(coords, dtype=np.float32)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be [N, 2], got shape {coords.shape}")
    fig = _figure(6.4, 5.2)
    ax = fig.add_subplot(1, 1, 1)
    lab = None if labels is None else np.asarray(labels).reshape(-1)
    if lab is not None and lab.shape[0] != coords.shape[0]:
        raise ValueError(f"labels has {lab.shape[0]} entries for {coords.shape[0]} points")
    if lab is None or not (lab >= 0).any():
        ax.scatter(coords[:, 0], coords[:, 1], s=6, c="#4c72b0", alpha=0.7, linewidths=0)
    else:
        from matplotlib import colormaps

        classes = sorted(int(c) for c in np.unique(lab[lab >= 0]))
        cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, cls in enumerate(classes):
            sel = lab == cls
            name = class_names[cls] if class_names is not None and cls < len(class_names) else str(cls)
            ax.scatter(coords[sel, 0], coords[sel, 1], s=6, color=cmap(i % cmap.N), label=name, linewidths=0)
        if (lab < 0).any():
            ax.scatter(*coords[lab < 0].T, s=6, c="#999999", label="unlabeled", linewidths=0)
        ax.legend(fontsize=7, markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _rgb(image: Tensor) -> np.ndarray:
    """uint8 ``[C, H, W]`` -> ``[H, W, 3]`` uint8 (grey repeated, RGBA's alpha dropped)."""
    img = image.detach().cpu()
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img[:3].permute(1, 2, 0).numpy()


def save_retrieval_png(
    query_images: Tensor,
    gallery_images: Tensor,
    indices: Tensor,
    similarities: Tensor,
    path: str | Path,
    query_labels: Tensor | None = None,
    gallery_labels: Tensor | None = None,
    title: str = "",
) -> Path:
    """One row per query: the query, then its ``k`` neighbours with their cosine similarity.

    Images are uint8 ``[*, C, H, W]``; ``indices``/``similarities`` ``[Q, k]`` from
    ``cosine_neighbours``. With labels, a neighbour's frame is green when its label matches the
    query's and red otherwise.
    """
    if query_images.dtype != torch.uint8 or gallery_images.dtype != torch.uint8:
        raise ValueError("query_images and gallery_images must be uint8 [N, C, H, W] images")
    nq, k = indices.shape
    if query_images.shape[0] != nq:
        raise ValueError(f"{query_images.shape[0]} query images for {nq} rows of neighbour indices")
    fig = _figure(1.1 * (k + 1), 1.15 * nq + (0.3 if title else 0.0))
    axes = fig.subplots(nq, k + 1, squeeze=False)
    for r in range(nq):
        axes[r][0].imshow(_rgb(query_images[r]), interpolation="nearest")
        axes[r][0].set_title("query", fontsize=7)
        for j in range(k):
            ax = axes[r][1 + j]
            g = int(indices[r, j])
            ax.imshow(_rgb(gallery_images[g]), interpolation="nearest")
            ax.set_title(f"{float(similarities[r, j]):.2f}", fontsize=7)
            if query_labels is not None and gallery_labels is not None:
                same = int(gallery_labels[g]) == int(query_labels[r])
                for spine in ax.spines.values():
                    spine.set_edgecolor("#2ca02c" if same else "#d62728")
                    spine.set_linewidth(2.5)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, path, title)
