"""SimCLR: views, one forward over both views, the loss on the head's output, param groups."""

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.losses import InfoNCELoss
from selfsup.methods.simclr import SimCLR, SimCLRConfig
from selfsup.registry import create_method
from selfsup.train.config import OptimConfig
from selfsup.train.optimizers import build_optimizer
from selfsup.types import Progress
from selfsup.views import ViewRecipe


def tiny(**kw):
    backbone = create_backbone("resnet_small", in_chans=1, width=4, depths=(1, 1, 1, 1))
    return SimCLR(backbone, SimCLRConfig(proj_out_dim=8, views=ViewRecipe(blur_p=0.0), **kw))


def test_make_batch_two_different_views_of_input_size():
    method = tiny()
    images = torch.randint(0, 256, (6, 1, 20, 20), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(0))
    assert len(batch.views) == 2 and batch.views[0].shape == (6, 1, 20, 20)
    assert not torch.equal(batch.views[0], batch.views[1])
    again = method.make_batch(images, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batch.views, again.views, strict=True))
    sized = tiny(view_size=12).make_batch(images, generator=torch.Generator().manual_seed(0))
    assert sized.views[0].shape == (6, 1, 12, 12)


def test_loss_is_nt_xent_of_head_outputs_with_one_forward():
    method = tiny(temperature=0.3)
    images = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(1))
    calls = []
    handle = method.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    out = method.training_step(batch, Progress(0, 10))
    handle.remove()
    assert calls == [16]  # both views in a single forward pass
    z = method.head(method.encoder(torch.cat(batch.views)))
    expected = InfoNCELoss(temperature=0.3)(z[:8], z[8:])
    torch.testing.assert_close(out.loss, expected)
    assert out.features.shape == (8, method.encoder.num_features) and not out.features.requires_grad
    assert 0.0 <= float(out.metrics["contrastive_acc"]) <= 1.0


def test_gradients_reach_encoder_and_head():
    method = tiny()
    batch = method.make_batch(
        torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), generator=torch.Generator().manual_seed(2)
    )
    method.training_step(batch, Progress(0, 10)).loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in method.parameters())


def test_param_groups_exclude_norms_and_biases_from_decay_and_lars():
    method = tiny()
    groups = method.param_groups(weight_decay=1e-4)
    decay, no_decay = groups
    assert all(p.ndim > 1 for p in decay["params"]) and decay["weight_decay"] == 1e-4
    assert all(p.ndim <= 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    assert no_decay["lars_exclude"] and not decay["lars_exclude"]
    n = sum(p.numel() for g in groups for p in g["params"])
    assert n == sum(p.numel() for p in method.parameters())
    opt = build_optimizer(method, OptimConfig(name="lars"), lr=0.1)
    assert type(opt).__name__ == "LARS"


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="method.temperature"):
        tiny(temperature=0.0)
    backbone = create_backbone("resnet_small", in_chans=1, width=4, depths=(1, 1, 1, 1))
    assert isinstance(create_method("simclr", backbone), SimCLR)
    with pytest.raises(TypeError, match="SimCLRConfig"):
        SimCLR(backbone, object())
    assert tiny().normalization() == ([0.5], [0.5])


def test_multi_crop_adds_small_local_views_scored_by_the_multi_positive_loss():
    method = tiny(n_local_crops=3, local_size=8, temperature=0.4)
    images = torch.randint(0, 256, (5, 1, 20, 20), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(3))
    assert [tuple(v.shape) for v in batch.views] == [(5, 1, 20, 20)] * 2 + [(5, 1, 8, 8)] * 3
    calls = []
    handle = method.encoder.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    out = method.training_step(batch, Progress(0, 10))
    handle.remove()
    assert calls == [(10, 1, 20, 20), (15, 1, 8, 8)]  # one forward per crop size
    v = batch.views  # batch norm: the same groups as the training step
    z = method.head(torch.cat([method.encoder(torch.cat(v[:2])), method.encoder(torch.cat(v[2:]))]))
    expected = InfoNCELoss(temperature=0.4)(list(z.split(5)))
    torch.testing.assert_close(out.loss, expected)
    # The multi-view form: for each anchor, every other crop of its image is a positive.
    ids = torch.arange(5).repeat(5)
    torch.testing.assert_close(out.loss, InfoNCELoss(temperature=0.4)(z, ids))
    assert out.features.shape == (5, method.encoder.num_features)
    out.loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_multi_crop_defaults_and_bad_count():
    method = tiny(n_local_crops=2)
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    views = method.make_batch(images, generator=torch.Generator().manual_seed(0)).views
    assert [v.shape[-1] for v in views] == [28, 28, 12, 12]  # DINO's 96/224 side ratio
    assert len(tiny().make_batch(images).views) == 2  # SimCLR's two views by default
    with pytest.raises(ValueError, match="method.n_local_crops"):
        tiny(n_local_crops=-1)
    with pytest.raises(ValueError, match="method.local_scale"):
        tiny(n_local_crops=2, local_scale=(0.4, 0.05))
    with pytest.raises(ValueError, match="method.local_size"):
        tiny(n_local_crops=2, local_size=0)
