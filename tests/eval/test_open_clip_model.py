"""An open_clip model saved to a local file, loaded back via create_model(name, pretrained=PATH), gives the
same embeddings and zero-shot / retrieval results as the in-memory model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

open_clip = pytest.importorskip("open_clip")

from selfsup.eval.open_clip_model import OpenClipModel, load_open_clip  # noqa: E402
from selfsup.eval.retrieval import retrieval_recall  # noqa: E402
from selfsup.eval.zeroshot import zeroshot_classify  # noqa: E402

NAME = "selfsup-tiny-test"
TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torch.nn.Module]:
    folder = tmp_path_factory.mktemp("openclip")
    config = folder / f"{NAME}.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(NAME).eval()
    with torch.no_grad():  # a non-default scale / weights make a wrong load visible
        model.logit_scale.fill_(2.0)
        model.visual.proj.mul_(3.0)
    ckpt = folder / "tiny.pt"
    torch.save(model.state_dict(), ckpt)
    return config, ckpt, model


def test_loaded_model_equals_in_memory(saved) -> None:
    config, ckpt, model = saved
    loaded = load_open_clip(NAME, ckpt, model_config=config)
    reference = OpenClipModel(
        model, open_clip.get_tokenizer(NAME), 16, loaded.mean.flatten(), loaded.std.flatten()
    )
    assert loaded.image_size == 16
    torch.testing.assert_close(loaded.model.logit_scale, torch.tensor(2.0))
    images = torch.randint(
        0, 256, (6, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    texts = ["a photo of a cat.", "a photo of a dog."]
    torch.testing.assert_close(loaded.encode_images(images), reference.encode_images(images))
    torch.testing.assert_close(loaded.encode_texts(texts), reference.encode_texts(texts))
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    a = zeroshot_classify(loaded, images, labels, ["cat", "dog"], ["a photo of a {}."])
    b = zeroshot_classify(reference, images, labels, ["cat", "dog"], ["a photo of a {}."])
    assert a == b and set(a) == {"top1", "top5", "chance"}
    emb = loaded.encode_images(images)
    assert emb.shape == (6, 16) and torch.allclose(emb.norm(dim=1), torch.ones(6))
    r = retrieval_recall(emb, loaded.encode_texts(texts * 3), torch.arange(6))
    assert 0.0 <= r["t2i_R@1"] <= 1.0


def test_grayscale_images_are_expanded(saved) -> None:
    config, ckpt, _ = saved
    loaded = load_open_clip(NAME, ckpt, model_config=config)
    gray = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    torch.testing.assert_close(loaded.encode_images(gray), loaded.encode_images(gray.expand(-1, 3, -1, -1)))


def test_errors(tmp_path: Path, saved) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        load_open_clip(NAME, tmp_path / "none.pt")
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        load_open_clip("no-such-arch", saved[1])
