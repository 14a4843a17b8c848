"""RotNet: four rotations per image in one forward, 4-way cross-entropy, pretext accuracy, learning."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods.rotation import Rotation, RotationConfig
from selfsup.registry import create_method
from selfsup.types import Progress
from selfsup.views.rotation import rotate


def tiny(**kw):
    backbone = create_backbone("resnet_small", in_chans=1, width=4, depths=(1, 1, 1, 1))
    return Rotation(backbone, RotationConfig(**kw))


def test_views_are_the_four_rotations_of_each_normalized_image():
    method = tiny(crop_scale=(1.0, 1.0), flip_p=0.0)
    images = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(0))
    (views,) = batch.views
    labels = batch.targets["rotation"]
    assert views.shape == (20, 1, 12, 12) and labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    upright = (images.float() / 255 - 0.5) / 0.5
    assert torch.allclose(rotate(views, -labels), upright.repeat(4, 1, 1, 1), atol=1e-6)
    cropped = tiny().make_batch(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rotate(cropped.views[0], -labels)[:5], rotate(cropped.views[0], -labels)[15:])


def test_loss_is_cross_entropy_of_the_head_on_one_forward():
    method = tiny(head_hidden_dim=8)
    batch = method.make_batch(
        torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8), generator=torch.Generator().manual_seed(1)
    )
    calls = []
    handle = method.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    out = method.training_step(batch, Progress(0, 10))
    handle.remove()
    assert calls == [24]
    logits = method.head(method.encoder(batch.views[0]))
    torch.testing.assert_close(out.loss, F.cross_entropy(logits, batch.targets["rotation"]))
    expected_acc = (logits.argmax(1) == batch.targets["rotation"]).float().mean()
    torch.testing.assert_close(out.metrics["pretext_acc"], expected_acc)
    assert out.features.shape == (6, method.encoder.num_features)
    out.loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_pretext_accuracy_rises_above_chance_on_real_digits():
    from selfsup.data import create_dataset, dataset_to_tensors

    images, _ = dataset_to_tensors(create_dataset("digits", "train"), max_items=256)
    torch.manual_seed(0)
    method = tiny(crop_scale=(1.0, 1.0), flip_p=0.0)
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    for step in range(30):
        chunk = images[(step * 32) % 256 :][:32]
        batch = method.make_batch(chunk, generator=torch.Generator().manual_seed(step))
        out = method.training_step(batch, Progress(step, 30))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    method.eval()
    with torch.no_grad():
        batch = method.make_batch(images, generator=torch.Generator().manual_seed(99))
        acc = (
            (method.head(method.encoder(batch.views[0])).argmax(1) == batch.targets["rotation"])
            .float()
            .mean()
        )
    assert acc > 0.6  # chance is 0.25


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="method.crop_scale"):
        tiny(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="method.head_hidden_dim"):
        tiny(head_hidden_dim=-1)
    backbone = create_backbone("resnet_small", in_chans=3, width=4, depths=(1, 1))
    assert isinstance(create_method("rotation", backbone), Rotation)
    assert tiny().normalization() == ([0.5], [0.5])
    with pytest.raises(ValueError, match="square"):
        tiny(crop_scale=(1.0, 1.0), flip_p=0.0).make_batch(
            torch.zeros(2, 1, 8, 10, dtype=torch.uint8), generator=torch.Generator()
        )
