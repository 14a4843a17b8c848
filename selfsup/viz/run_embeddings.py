"""A run's test-set embeddings for the report: 2-D plot, retrieval grid, label-free quality signals.

``run_embeddings(run)`` loads the run's encoder (``RUN/encoder.safetensors``, else its latest
checkpoint) and an evenly spaced subset of the *test* split of the dataset it was trained on, at
its training size (the encoder's ``InputSpec``; a caption dataset is replaced by the labelled images
behind its captions), extracts features exactly as evaluation does (the encoder's input size and
normalization), and returns:

- a t-SNE / UMAP plot (``selfsup.viz.embeddings.embed_2d``) coloured by label when there are labels;
- a retrieval grid: ``num_queries`` test images and their top-``k`` cosine neighbours among the
  other images of the subset;
- RankMe, uniformity and embedding std (``selfsup.monitors.quality``) of the encoder and of a
  random-init copy of it, so the numbers have a reference on the same data.

Default sizes: 1,000 test images (t-SNE on 1k points takes seconds on 2 CPU cores; RankMe needs
N >= D to reach D, and our encoders have D <= 768), 8 queries, 6 neighbours.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from selfsup.types import InputSpec
from selfsup.viz.run_artifacts import RunArtifacts

__all__ = ["RunEmbeddings", "run_embeddings"]


@dataclass
class RunEmbeddings:
    """PNG bytes of the two pictures plus the numbers shown beside them."""

    embedding_png: bytes
    retrieval_png: bytes
    layout: str  # "tsne" | "umap"
    num_points: int
    quality: dict[str, float] = field(default_factory=dict)
    random_init_quality: dict[str, float] = field(default_factory=dict)
    retrieval_precision: float | None = None  # fraction of neighbours sharing the query's label


def _encoder_source(run: RunArtifacts) -> Path:
    if run.encoder_path is not None:
        return run.encoder_path
    from selfsup.train.run_dir import latest_checkpoint

    ckpt = latest_checkpoint(run.path)
    if ckpt is None:
        raise FileNotFoundError(
            f"{run.path} has neither encoder.safetensors nor a checkpoint; nothing to embed"
        )
    return ckpt


def _test_data(
    spec: InputSpec, source: Path, max_items: int
) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    """Test images (in the encoder's channels), labels and class names of the encoder's own data."""
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.data.captions import CAPTION_DATASETS, labelled_dataset_of
    from selfsup.viz.image_source import VizImages

    name, root = spec.dataset, spec.root
    if name is None:
        raise ValueError(f"{source} records no training dataset; cannot load its test images")
    if name.strip().lower().replace("-", "_") in CAPTION_DATASETS:  # CLIP: the labelled images behind
        labelled = labelled_dataset_of(name)
        if labelled is None:
            raise ValueError(f"{name!r} (a caption file) has no labelled test images to embed")
        name, root = labelled, (root if labelled == "stamps" else None)
    ds = create_dataset(name, "test", root=root, image_size=spec.image_size)
    images, labels = dataset_to_tensors(ds, max_items=max_items)
    images = VizImages(images, name).for_model(spec, str(source))
    return images, labels, getattr(ds, "classes", None) or None


def run_embeddings(
    run: RunArtifacts,
    max_items: int = 1000,
    num_queries: int = 8,
    k: int = 6,
    seed: int = 0,
    layout: str = "auto",
) -> RunEmbeddings:
    """Embedding plot, retrieval grid and quality signals of ``run``'s encoder on its test split."""
    from selfsup.eval.baselines import random_init_copy
    from selfsup.eval.features import extract_features
    from selfsup.monitors.quality import quality_signals
    from selfsup.viz.embeddings import cosine_neighbours, embed_2d, save_embedding_png, save_retrieval_png
    from selfsup.viz.encoder_source import load_viz_encoder

    source = _encoder_source(run)
    model = load_viz_encoder(source)
    spec = model.spec
    if spec.dataset is None:  # an export that predates the input record: the run's config names the data
        data = run.config.get("data") or {}
        spec = replace(spec, dataset=data.get("name"), root=data.get("root"))
    images, labels, classes = _test_data(spec, source, max_items)
    n = images.shape[0]
    if n < max(5, k + 1):
        raise ValueError(f"the test split of {run.name} has {n} images; the embedding plot needs >= {k + 1}")

    def features(encoder: torch.nn.Module) -> torch.Tensor:
        return extract_features(encoder, images, model.image_size, model.mean, model.std)

    feats = features(model.encoder)
    random_feats = features(random_init_copy(model.encoder, seed=seed))
    coords, used = embed_2d(feats, method=layout, seed=seed)
    labelled = labels if bool((labels >= 0).any()) else None
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randperm(n, generator=generator)[: min(num_queries, n)].sort().values
    idx, sims = cosine_neighbours(feats[queries], feats, k, query_indices=queries)
    precision = None
    if labelled is not None:
        precision = float((labels[idx] == labels[queries].unsqueeze(1)).float().mean())
    with tempfile.TemporaryDirectory() as tmp:
        emb = save_embedding_png(
            coords,
            Path(tmp) / "embedding.png",
            labels=labelled,
            class_names=classes,
            title=f"{run.method}: {used} of {n} test embeddings",
        )
        ret = save_retrieval_png(
            images[queries],
            images,
            idx,
            sims,
            Path(tmp) / "retrieval.png",
            query_labels=None if labelled is None else labels[queries],
            gallery_labels=labelled,
        )
        emb_bytes, ret_bytes = emb.read_bytes(), ret.read_bytes()
    return RunEmbeddings(
        embedding_png=emb_bytes,
        retrieval_png=ret_bytes,
        layout=used,
        num_points=n,
        quality=quality_signals(feats),
        random_init_quality=quality_signals(random_feats),
        retrieval_precision=precision,
    )
