"""CLIP method: batch from caption ids, loss = ClipLoss of projected image and text features, training
through the trainer's data path learns a toy image-text task well enough for zero-shot and retrieval."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.data.batching import collate_batched
from selfsup.data.captions import CaptionDataset
from selfsup.eval.retrieval import evaluate_retrieval
from selfsup.eval.zeroshot import zeroshot_classify
from selfsup.losses.clip import ClipLoss
from selfsup.methods.clip import CLIP, ClipConfig
from selfsup.registry import create_method
from selfsup.types import Progress

COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}


def tiny(**kw) -> CLIP:
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=3, width=8, depths=(1, 1, 1, 1))
    args = {"embed_dim": 16, "text_width": 32, "text_layers": 1, "text_heads": 2, "context_length": 16, **kw}
    cfg = ClipConfig(**args)
    return create_method("clip", backbone, cfg)


def _color_dataset(n_per: int = 8, size: int = 16) -> CaptionDataset:
    g = torch.Generator().manual_seed(0)
    images, captions, labels = [], [], []
    for k, (name, rgb) in enumerate(COLORS.items()):
        for _ in range(n_per):
            noise = torch.randint(-30, 30, (3, size, size), generator=g)
            images.append((torch.tensor(rgb).view(3, 1, 1) + noise).clamp(0, 255).to(torch.uint8))
            captions.append(f"a photo of a {name} thing.")
            labels.append(k)
    return CaptionDataset(
        torch.stack(images), captions, range(len(captions)), size, 77, labels=labels, classes=list(COLORS)
    )


def test_make_batch_fits_tokens_and_needs_them() -> None:
    method = tiny()
    ds = _color_dataset(2)
    images, tokens, _ = collate_batched(ds.__getitems__([0, 3, 5]))
    batch = method.make_batch(images, tokens, torch.Generator().manual_seed(0))
    assert len(batch.views) == 1 and batch.views[0].shape == (3, 3, 16, 16)
    assert batch.targets["tokens"].shape == (3, 16)  # 77 -> method.context_length, EOT kept
    assert (batch.targets["tokens"] == method.tokenizer.eot_id).sum(dim=1).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="caption dataset"):
        method.make_batch(images, torch.zeros(3, dtype=torch.int64))


def test_loss_is_clip_loss_of_projected_features() -> None:
    method = tiny()
    images, tokens, _ = collate_batched(_color_dataset(2).__getitems__(list(range(8))))
    batch = method.make_batch(images, tokens, torch.Generator().manual_seed(1))
    out = method.training_step(batch, Progress(0, 10))
    image = method.image_projection(method.encoder(batch.views[0]))
    text = method.text(batch.targets["tokens"])
    torch.testing.assert_close(out.loss, ClipLoss()(image, text))
    assert out.features.shape == (8, method.encoder.num_features)
    out.loss.backward()
    assert method.loss_fn.log_scale.grad is not None and method.text.token_embedding.weight.grad is not None
    assert all(p.grad is not None for p in method.encoder.parameters())
    names = {id(p) for g in method.param_groups(0.1) if g["weight_decay"] == 0 for p in g["params"]}
    assert id(method.loss_fn.log_scale) in names  # the temperature is never decayed


def test_scale_pushed_above_100_is_clamped_after_the_step_and_can_come_back_down() -> None:
    """open_clip: ``logit_scale.clamp_(0, ln 100)`` after ``optimizer.step()``, no clamp in the forward."""
    method = tiny()
    with torch.no_grad():
        method.loss_fn.log_scale.fill_(math.log(150.0))  # pushed above the bound by a step
    method.after_optimizer_step(Progress(0, 10))
    assert math.isclose(float(method.loss_fn.scale.detach()), 100.0, rel_tol=1e-6)
    opt = torch.optim.SGD([method.loss_fn.log_scale], lr=0.05)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=g)
    tokens = method.tokenizer([f"caption number {i}" for i in range(8)])
    batch = method.make_batch(images, tokens, generator=g)
    for step in range(3):
        # Untrained features: the matching pair is rarely the top logit, so a lower scale lowers the loss.
        out = method.training_step(batch, Progress(step, 10))
        opt.zero_grad()
        out.loss.backward()
        assert float(method.loss_fn.log_scale.grad) > 0  # a gradient at the bound, pointing down
        opt.step()
        method.after_optimizer_step(Progress(step, 10))
    assert float(method.loss_fn.scale.detach()) < 100.0


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="method.text_width"):
        tiny(text_heads=3)
    with pytest.raises(ValueError, match="method.text_pool"):
        ClipConfig(text_pool="mean").validate()
    with pytest.raises(ValueError, match="method.init_temperature"):
        ClipConfig(init_temperature=0.005).validate()  # scale 200 > max_logit_scale 100


def test_learns_toy_task_zero_shot_and_retrieval() -> None:
    method = tiny()
    ds = _color_dataset(8)
    opt = torch.optim.AdamW(method.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=8, shuffle=True, collate_fn=collate_batched, generator=torch.Generator().manual_seed(0)
    )
    for step in range(4):
        for images, tokens, _ in loader:
            out = method.training_step(method.make_batch(images, tokens, g), Progress(step, 4))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    images = ds.images_at(torch.arange(ds.num_images))
    result = zeroshot_classify(method, images, ds.labels, list(COLORS), ["a photo of a {} thing."])
    assert result["top1"] == 1.0 and result["chance"] == 0.25
    # Retrieval: captions are shared within a color, so text->image R@1 is ~1/8; image->text is exact.
    recall = evaluate_retrieval(method, ds)
    assert recall["i2t_R@1"] == 1.0
