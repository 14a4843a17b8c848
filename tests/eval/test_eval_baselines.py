"""Baselines: random-init copies of an encoder, raw-pixel kNN, and the one-call evaluation."""

import pytest
import timm
import torch
from torch import nn

from selfsup.eval import (
    evaluate_encoder,
    extract_features,
    knn_accuracy,
    linear_probe,
    random_init_copy,
    raw_pixel_features,
    raw_pixel_knn,
)


class WithLooseParams(nn.Module):
    """A ViT-like module: parameters held directly, with no reset_parameters of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 8)
        self.pos_embed = nn.Parameter(torch.full((1, 3, 8), 5.0))
        self.scale = nn.Parameter(torch.full((8,), 5.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) * self.scale + self.pos_embed.mean()


def trained_like(module: nn.Module) -> nn.Module:
    """Move every parameter and BatchNorm statistic away from any initialization."""
    with torch.no_grad():
        for param in module.parameters():
            param.add_(torch.randn_like(param)).add_(3.0)
        for buffer_name, buffer in module.named_buffers():
            if buffer.is_floating_point():
                buffer.fill_(2.0 if "var" in buffer_name else 0.7)
    return module


def test_random_init_copy_resets_everything_and_keeps_architecture(tiny_encoder):
    original = trained_like(tiny_encoder)
    before = {k: v.clone() for k, v in original.state_dict().items()}
    rng_state = torch.get_rng_state()
    clone = random_init_copy(original, seed=0)
    assert torch.equal(torch.get_rng_state(), rng_state)  # global RNG untouched
    assert type(clone) is type(original) and clone is not original
    for key, value in original.state_dict().items():
        assert torch.equal(value, before[key])  # original untouched
    clone_state = clone.state_dict()
    assert clone_state.keys() == before.keys()
    for key, value in before.items():
        assert clone_state[key].shape == value.shape
        if value.is_floating_point():
            assert not torch.equal(clone_state[key], value), f"{key} kept its trained value"
    bn = clone.body[1]
    assert torch.equal(bn.running_mean, torch.zeros(8)) and torch.equal(bn.running_var, torch.ones(8))
    x = torch.randn(3, 1, 8, 8)
    assert clone(x).shape == original(x).shape == (3, 16)


def test_random_init_copy_is_deterministic_for_a_seed(tiny_encoder):
    first, second = random_init_copy(tiny_encoder, seed=0), random_init_copy(tiny_encoder, seed=0)
    other = random_init_copy(tiny_encoder, seed=1)
    for (name, a), b, c in zip(
        first.named_parameters(), second.parameters(), other.parameters(), strict=True
    ):
        assert torch.equal(a, b), name
        if name.endswith("weight") and a.ndim > 1:
            assert not torch.equal(a, c), name


def test_random_init_copy_redraws_loose_parameters():
    clone = random_init_copy(trained_like(WithLooseParams()), seed=0)
    for param in (clone.pos_embed.detach(), clone.scale.detach()):
        assert float(param.abs().max()) <= 0.04 + 1e-6 and float(param.std()) > 0.005


def test_random_init_copy_of_a_timm_vit():
    vit = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=16,
        patch_size=8,
        embed_dim=32,
        depth=1,
        num_heads=2,
        num_classes=0,
    )
    original = trained_like(vit)
    clone = random_init_copy(original, seed=0)
    for (name, a), b in zip(original.named_parameters(), clone.parameters(), strict=True):
        assert not torch.equal(a, b), f"{name} kept its trained value"
    x = torch.randn(2, 3, 16, 16)
    assert clone(x).shape == original(x).shape == (2, 32)


def test_raw_pixel_knn_on_real_digits(digits):
    train_images, train_labels, test_images, test_labels = digits
    acc = raw_pixel_knn(train_images, train_labels, test_images, test_labels, k=20, temperature=0.07)
    expected = knn_accuracy(
        raw_pixel_features(train_images), train_labels, raw_pixel_features(test_images), test_labels
    )
    assert acc == expected
    assert acc > 0.95  # pixel-space kNN on digits is known to be strong (~98 %)


def test_evaluate_encoder_matches_the_parts(digits, tiny_encoder):
    train_images, train_labels, test_images, test_labels = digits
    train_images, train_labels = train_images[:400], train_labels[:400]
    kwargs = dict(image_size=12, mean=[0.2], std=[0.3])
    result = evaluate_encoder(
        tiny_encoder, train_images, train_labels, test_images, test_labels, k=10, temperature=0.1, **kwargs
    )
    train_feats = extract_features(tiny_encoder, train_images, **kwargs)
    test_feats = extract_features(tiny_encoder, test_images, **kwargs)
    assert result["feature_dim"] == 16
    assert result["knn"] == knn_accuracy(
        train_feats, train_labels, test_feats, test_labels, k=10, temperature=0.1
    )
    assert result["linear"] == linear_probe(train_feats, train_labels, test_feats, test_labels).test_accuracy
    # Random conv features of real digits are far above chance (10 %).
    assert result["knn"] > 0.3 and result["linear"] > 0.3
    without = evaluate_encoder(
        tiny_encoder, train_images, train_labels, test_images, test_labels, linear=False
    )
    assert without["linear"] is None


def test_random_init_copy_rejects_non_modules():
    with pytest.raises(TypeError, match="nn.Module"):
        random_init_copy(lambda x: x)
