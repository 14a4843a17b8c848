"""Zero-shot classification on constructed embeddings with known answers; template ensembling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfsup.eval.zeroshot import (
    ensemble_class_embeddings,
    topk_accuracy,
    zeroshot_classify,
    zeroshot_weights,
)


class _Lookup:
    """Text embedding = a fixed vector per text; image embedding = a fixed vector per image value."""

    def __init__(self, texts: dict[str, torch.Tensor], image_vectors: torch.Tensor) -> None:
        self.texts, self.image_vectors = texts, image_vectors

    def encode_texts(self, texts):
        return F.normalize(torch.stack([self.texts[t] for t in texts]), dim=-1)

    def encode_images(self, images):
        return F.normalize(self.image_vectors[images[:, 0, 0, 0].long()], dim=-1)


def test_ensemble_is_mean_of_normalized_then_renormalized() -> None:
    emb = torch.tensor([[[3.0, 0.0], [0.0, 1.0]], [[0.0, -2.0], [0.0, -5.0]]])
    out = ensemble_class_embeddings(emb)
    s = 2**-0.5
    torch.testing.assert_close(out, torch.tensor([[s, s], [0.0, -1.0]]))  # norms ignored, directions averaged


def test_known_answers() -> None:
    e = torch.eye(3)
    # Class "cat": templates point to e0 and (e0 + e2)/√2 -> the ensemble leans to e0; "dog": e1.
    texts = {
        "a cat.": e[0],
        "the cat!": (e[0] + e[2]),
        "a dog.": e[1],
        "the dog!": 5 * e[1],
    }
    images = torch.tensor([0, 1, 2, 3], dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    # Image 2 (e2 + 0.1 e1) is "cat" only through the second cat template's e2 component.
    vectors = torch.stack([e[0], e[1], e[2] + 0.1 * e[1], -e[0]])
    model = _Lookup(texts, vectors)
    w = zeroshot_weights(model, ["cat", "dog"], ["a {}.", "the {}!"])
    assert w.shape == (2, 3) and torch.allclose(w.norm(dim=1), torch.ones(2))
    result = zeroshot_classify(
        model, images, torch.tensor([0, 1, 0, 1]), ["cat", "dog"], ["a {}.", "the {}!"]
    )
    assert result["top1"] == 1.0 and result["chance"] == 0.5  # -e0 is farther from cat than from dog
    only_first = zeroshot_classify(model, images[:3], torch.tensor([0, 1, 0]), ["cat", "dog"], ["a {}."])
    assert only_first["top1"] == pytest.approx(2 / 3)  # without the ensemble image 2 goes to "dog"


def test_topk_accuracy() -> None:
    logits = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.3, 0.1], [0.1, 0.2, 0.3]])
    assert topk_accuracy(logits, torch.tensor([0, 0, 1]), ks=(1, 2)) == pytest.approx(
        {"top1": 1 / 3, "top2": 1.0}
    )


def test_bad_templates() -> None:
    model = _Lookup({}, torch.eye(2))
    with pytest.raises(ValueError, match="placeholder"):
        zeroshot_weights(model, ["cat"], ["a photo"])
    with pytest.raises(ValueError, match="classnames is empty"):
        zeroshot_weights(model, [], ["a {}"])
