"""Supervised baseline: cross-entropy matches F.cross_entropy, it learns a separable problem, no labels is an error."""

from __future__ import annotations

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.methods.supervised import SupervisedConfig
from selfsup.registry import create_method
from selfsup.train.config_loader import ConfigError, load_run_config
from selfsup.types import Progress


def _method(**kw):
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    return create_method("supervised", backbone, SupervisedConfig(num_classes=2, **kw))


def _toy(n: int = 64):
    """Two classes a linear probe of any encoder separates: bright top half vs bright bottom half."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 60, (n, 1, 16, 16), dtype=torch.uint8, generator=g)
    top = labels == 0
    images[top, :, :8] += 180
    images[~top, :, 8:] += 180
    return images, labels


def test_loss_is_cross_entropy_of_the_linear_head() -> None:
    m = _method(crop_scale=(1.0, 1.0), flip_p=0.0)
    images, labels = _toy(8)
    batch = m.make_batch(images, labels, generator=torch.Generator().manual_seed(0))
    out = m.training_step(batch, Progress(0, 10))
    logits = m.head(m.encoder(batch.views[0]))
    ref = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(out.loss, ref)
    acc = (logits.argmax(1) == labels).float().mean()
    torch.testing.assert_close(out.metrics["train_acc"], acc)
    # crop scale 1 and no flip: the view is the image itself, normalized with mean = std = 0.5
    torch.testing.assert_close(batch.views[0], (images.float() / 255 - 0.5) / 0.5, atol=1e-5, rtol=0)


def test_learns_a_separable_problem() -> None:
    m = _method(crop_scale=(0.8, 1.0), flip_p=0.5)
    images, labels = _toy()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(40):
        out = m.training_step(m.make_batch(images, labels, generator=g), Progress(step, 40))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    x = (images.float() / 255 - 0.5) / 0.5
    assert m.accuracy(x, labels) >= 0.95  # chance is 0.5


def test_missing_or_bad_labels_are_clear_errors() -> None:
    m = _method()
    images, labels = _toy(4)
    with pytest.raises(ValueError, match="needs a class label"):
        m.make_batch(images, None)
    with pytest.raises(ValueError, match="label -1 marks unlabeled"):
        m.make_batch(images, torch.full((4,), -1))
    with pytest.raises(ValueError, match="method.num_classes=2"):
        m.make_batch(images, torch.tensor([0, 1, 2, 0]))
    backbone = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    with pytest.raises(ValueError, match="method.num_classes is not set"):
        create_method("supervised", backbone, SupervisedConfig())


def test_config_is_validated_strictly() -> None:
    with pytest.raises(ConfigError, match="method.num_classes must be >= 2"):
        load_run_config(None, ["method.num_classes=1"], method="supervised")
    with pytest.raises(ConfigError, match="method.crop_scale"):
        load_run_config(None, ["method.crop_scale=[0.5, 0.2]"], method="supervised")
    cfg = load_run_config("configs/supervised_fashion_mnist.yaml")
    assert cfg.method_name == "supervised" and cfg.backbone_kwargs["embed_dim"] == 128
