"""Frozen-feature extraction: equals a manual eval-mode forward, restores modes, batch independent."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.eval import extract_features, preprocess_for_eval, raw_pixel_features


def manual_preprocess(images, size, mean, std):
    x = images.float() / 255.0
    if size is not None:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    return (x - mean) / std


def random_images(n, c=1, h=8, w=8, seed=0):
    return torch.randint(
        0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def test_equals_direct_eval_forward_and_restores_train_mode(tiny_encoder):
    images = random_images(37)
    tiny_encoder.train()
    feats = extract_features(tiny_encoder, images, image_size=12, mean=[0.3], std=[0.2], batch_size=10)
    assert tiny_encoder.training and all(m.training for m in tiny_encoder.modules())
    tiny_encoder.eval()
    with torch.no_grad():
        expected = tiny_encoder(manual_preprocess(images, 12, [0.3], [0.2]))
    assert feats.dtype == torch.float32 and feats.shape == (37, 16)
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-6)
    # In train mode (dropout, batch statistics) the output would differ: eval mode is not a no-op here.
    tiny_encoder.train()
    with torch.no_grad():
        assert not torch.allclose(
            tiny_encoder(manual_preprocess(images, 12, [0.3], [0.2])), expected, atol=1e-3
        )


def test_restores_mixed_modes(tiny_encoder):
    tiny_encoder.train()
    tiny_encoder.body[1].eval()  # e.g. frozen BatchNorm inside a training model
    extract_features(tiny_encoder, random_images(4))
    assert tiny_encoder.training and not tiny_encoder.body[1].training and tiny_encoder.body[3].training
    tiny_encoder.eval()
    extract_features(tiny_encoder, random_images(4))
    assert not any(m.training for m in tiny_encoder.modules())


def test_batch_size_independent(tiny_encoder):
    images = random_images(50, seed=1)
    reference = extract_features(tiny_encoder, images, batch_size=512)
    for batch_size in (1, 7, 50):
        torch.testing.assert_close(
            extract_features(tiny_encoder, images, batch_size=batch_size), reference, rtol=1e-5, atol=1e-6
        )


def test_default_normalization_and_no_resize():
    images = random_images(6, c=3, h=5, w=7)
    x = preprocess_for_eval(images)
    torch.testing.assert_close(x, images.float() / 127.5 - 1.0)
    per_channel = preprocess_for_eval(images, mean=[0.1, 0.2, 0.3], std=[0.5, 1.0, 2.0])
    torch.testing.assert_close(per_channel, manual_preprocess(images, None, [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]))
    assert preprocess_for_eval(images, image_size=(10, 14)).shape == (6, 3, 10, 14)


def test_features_are_ordinary_tensors_usable_with_autograd(tiny_encoder):
    feats = extract_features(tiny_encoder, random_images(5))
    assert not feats.is_inference() and not feats.requires_grad
    weight = torch.ones(16, 3, requires_grad=True)
    (feats @ weight).sum().backward()  # an inference tensor could not be saved for backward
    torch.testing.assert_close(weight.grad, feats.sum(0, keepdim=True).T.expand(16, 3))


def test_bf16_autocast_close_to_fp32(tiny_encoder):
    images = random_images(16, seed=2)
    fp32 = extract_features(tiny_encoder, images)
    bf16 = extract_features(tiny_encoder, images, autocast=True)
    assert bf16.dtype == torch.float32
    torch.testing.assert_close(bf16, fp32, rtol=5e-2, atol=5e-2)


def test_encoder_without_parameters_and_explicit_device():
    encoder = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
    images = random_images(3, c=2, h=4, w=4)
    feats = extract_features(encoder, images, device="cpu")
    torch.testing.assert_close(feats, F.adaptive_avg_pool2d(images.float() / 127.5 - 1.0, 2).flatten(1))


def test_raw_pixel_features():
    images = random_images(4, c=3, h=6, w=5)
    feats = raw_pixel_features(images)
    assert feats.shape == (4, 90) and feats.dtype == torch.float32
    torch.testing.assert_close(feats, images.float().flatten(1) / 255.0)
    resized = raw_pixel_features(images, image_size=3)
    assert resized.shape == (4, 27) and 0.0 <= float(resized.min()) and float(resized.max()) <= 1.0


def test_invalid_inputs(tiny_encoder):
    with pytest.raises(ValueError, match="torch.uint8"):
        extract_features(tiny_encoder, torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="unsqueeze"):
        extract_features(tiny_encoder, random_images(2)[:, 0])
    with pytest.raises(ValueError, match="empty"):
        extract_features(tiny_encoder, random_images(0))
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(tiny_encoder, random_images(2), batch_size=0)
    with pytest.raises(ValueError, match="mean must have 1 or 1 values"):
        extract_features(tiny_encoder, random_images(2), mean=[0.5, 0.5])
    with pytest.raises(ValueError, match="std values must be > 0"):
        extract_features(tiny_encoder, random_images(2), std=0.0)
    with pytest.raises(ValueError, match="image_size"):
        extract_features(tiny_encoder, random_images(2), image_size=0)
    conv = nn.Conv2d(1, 2, 3).train()
    with pytest.raises(ValueError, match=r"pooled features \[B, D\]"):
        extract_features(conv, random_images(2))
    assert conv.training  # modes are restored even when the forward fails
    with pytest.raises(TypeError, match="nn.Module"):
        extract_features(lambda x: x, random_images(2))
