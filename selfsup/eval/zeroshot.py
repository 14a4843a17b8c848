"""Zero-shot classification with prompt-template ensembling (Radford et al. 2021, §3.1.4).

Each class name is put into every template ("a photo of a {}."), the texts are embedded and
L2-normalized, averaged per class and renormalized: a classifier weight ``[K, E]`` per class.
An image is assigned the class whose weight has the largest cosine with its normalized embedding.

Works with any model exposing the ``ImageTextModel`` interface: ``encode_images(uint8 [N, C, H, W])``
and ``encode_texts(list[str])``, both returning L2-normalized ``[N, E]`` (``selfsup.methods.clip.CLIP``
and ``selfsup.eval.open_clip_model.OpenClipModel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

# CLIP's single default prompt (§3.1.4) and a small ensemble in its style.
DEFAULT_TEMPLATES = (
    "a photo of a {}.",
    "a picture of a {}.",
    "a photo of the {}.",
    "a low resolution photo of a {}.",
)


class ImageTextModel(Protocol):
    def encode_images(self, images: Tensor) -> Tensor: ...

    def encode_texts(self, texts: Sequence[str]) -> Tensor: ...


def _check_templates(templates: Sequence[str]) -> None:
    if not templates:
        raise ValueError("templates is empty; give at least one, e.g. 'a photo of a {}.'")
    for t in templates:
        if "{}" not in t:
            raise ValueError(f"template {t!r} has no '{{}}' placeholder for the class name")


def ensemble_class_embeddings(text_embeddings: Tensor) -> Tensor:
    """``[K, T, E]`` text embeddings (class × template) -> ``[K, E]``: mean of normalized, renormalized."""
    if text_embeddings.dim() != 3:
        raise ValueError(f"text_embeddings must be [K, T, E], got {tuple(text_embeddings.shape)}")
    return F.normalize(F.normalize(text_embeddings.float(), dim=-1).mean(dim=1), dim=-1)


def zeroshot_weights(model: ImageTextModel, classnames: Sequence[str], templates: Sequence[str]) -> Tensor:
    """Classifier weights ``[K, E]`` for ``classnames`` from the template ensemble."""
    if not classnames:
        raise ValueError("classnames is empty; pass the class names to classify into")
    _check_templates(templates)
    texts = [t.format(c) for c in classnames for t in templates]
    emb = model.encode_texts(texts)
    return ensemble_class_embeddings(emb.reshape(len(classnames), len(templates), -1))


def zeroshot_logits(image_embeddings: Tensor, class_weights: Tensor) -> Tensor:
    """Cosine similarities ``[N, K]`` of images ``[N, E]`` with class weights ``[K, E]``."""
    if image_embeddings.shape[-1] != class_weights.shape[-1]:
        raise ValueError(
            f"image embeddings have dim {image_embeddings.shape[-1]} but class weights {class_weights.shape[-1]}"
        )
    return F.normalize(image_embeddings.float(), dim=-1) @ class_weights.float().T


def topk_accuracy(logits: Tensor, labels: Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"top1": ..., "top5": ...}`` fractions of ``labels [N]`` among the top-k of ``logits [N, K]``."""
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} logits rows but {labels.shape[0]} labels")
    out = {}
    for k in ks:
        k_eff = min(k, logits.shape[1])
        top = logits.topk(k_eff, dim=1).indices
        out[f"top{k}"] = float((top == labels.view(-1, 1)).any(dim=1).float().mean())
    return out


def zeroshot_classify(
    model: ImageTextModel,
    images: Tensor,
    labels: Tensor,
    classnames: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> dict[str, float]:
    """Zero-shot top-1/top-5 accuracy of uint8 ``images [N, C, H, W]`` with ``labels [N]`` into ``classnames``.

    Also returns ``chance`` (1 / number of classes) for comparison.
    """
    weights = zeroshot_weights(model, classnames, templates)
    logits = zeroshot_logits(model.encode_images(images), weights)
    result = topk_accuracy(logits, torch.as_tensor(labels).long())
    result["chance"] = 1.0 / len(classnames)
    return result
