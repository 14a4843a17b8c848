"""Image↔text retrieval Recall@K (CLIP §3.2 / Karpathy & Fei-Fei 2015 protocol).

Images ``[M, E]`` and captions ``[N, E]`` (L2-normalized embeddings) with ``caption_image [N]``
giving the image each caption describes (an image may have several captions, as in COCO's five).

- text→image R@K: fraction of captions whose image is among the K images most similar to it.
- image→text R@K: fraction of images with *any* of their captions among the K most similar captions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

RECALL_KS = (1, 5, 10)


def retrieval_recall(
    image_embeddings: Tensor, text_embeddings: Tensor, caption_image: Tensor, ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """``{"i2t_R@1", ..., "t2i_R@10"}`` plus ``chance_i2t_R@K`` / ``chance_t2i_R@K`` of random ranking."""
    caption_image = torch.as_tensor(caption_image, dtype=torch.int64).reshape(-1)
    m, n = image_embeddings.shape[0], text_embeddings.shape[0]
    if caption_image.shape[0] != n:
        raise ValueError(f"caption_image has {caption_image.shape[0]} entries for {n} captions")
    if n and (int(caption_image.min()) < 0 or int(caption_image.max()) >= m):
        raise ValueError(f"caption_image must index the {m} images")
    sim = (
        F.normalize(image_embeddings.float(), dim=-1) @ F.normalize(text_embeddings.float(), dim=-1).T
    )  # [M, N]
    positives = caption_image.view(1, -1) == torch.arange(m).view(-1, 1)  # [M, N]
    # Rank of the best positive: how many candidates score strictly higher than it.
    best_pos_i2t = sim.masked_fill(~positives, float("-inf")).max(dim=1).values  # [M]
    rank_i2t = (sim > best_pos_i2t.view(-1, 1)).sum(dim=1)
    pos_t2i = sim[caption_image, torch.arange(n)]  # [N]
    rank_t2i = (sim.T > pos_t2i.view(-1, 1)).sum(dim=1)
    has_caption = positives.any(dim=1)
    captions_per_image = positives.sum(dim=1).float()
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_R@{k}"] = float((rank_i2t[has_caption] < k).float().mean())
        out[f"t2i_R@{k}"] = float((rank_t2i < k).float().mean())
        # Random ranking: P(some of an image's c captions among k of n) = 1 - C(n-c, k)/C(n, k).
        c = captions_per_image[has_caption]
        miss = torch.ones_like(c)
        for j in range(min(k, n)):
            miss = miss * ((n - c - j).clamp(min=0) / (n - j))
        out[f"chance_i2t_R@{k}"] = float((1 - miss).mean())
        out[f"chance_t2i_R@{k}"] = min(1.0, k / m)
    return out


def evaluate_retrieval(model, dataset) -> dict[str, float]:
    """Recall@1/5/10 of ``model`` (``encode_images``/``encode_tokens`` or ``encode_texts``) on a
    ``CaptionDataset`` (every image once, every caption once)."""
    images = dataset.images_at(torch.arange(dataset.num_images))
    image_emb = model.encode_images(images)
    if hasattr(model, "encode_tokens"):
        text_emb = model.encode_tokens(dataset.tokens)
    else:
        text_emb = model.encode_texts(dataset.captions)
    return retrieval_recall(image_emb, text_emb, dataset.caption_image)
