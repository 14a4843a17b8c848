"""torchvision adapter: the classifier removed, tokens = final map, grayscale first conv."""

import pytest
import torch
import torchvision
from torch import nn

from selfsup.backbones import create_backbone


def test_resnet18_matches_plain_torchvision_without_fc():
    net = create_backbone("tv:resnet18").eval()
    assert isinstance(net.model.fc, nn.Identity)
    assert net.num_features == net.token_dim == 512 and net.patch_size == 32
    ref = torchvision.models.resnet18(weights=None)
    ref.fc = nn.Identity()
    ref.load_state_dict({k.removeprefix("model."): v for k, v in net.state_dict().items()}, strict=True)
    ref.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pooled, tokens = net(x), net.forward_tokens(x)
        torch.testing.assert_close(pooled, ref(x))
    assert pooled.shape == (2, 512)
    assert tokens.shape == (2, (64 // 32) ** 2, 512)
    torch.testing.assert_close(tokens.mean(1), pooled)


@pytest.mark.parametrize(
    ("name", "width"),
    [("mobilenet_v3_small", 576), ("shufflenet_v2_x0_5", 1024), ("mnasnet0_5", 1280)],
)
def test_other_families_tokens_average_to_pooled(name, width):
    net = create_backbone(f"tv:{name}").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pooled, tokens = net(x), net.forward_tokens(x)
    assert pooled.shape == (2, width) and net.num_features == width
    assert tokens.shape == (2, 4, width)  # total stride 32
    torch.testing.assert_close(tokens.mean(1), pooled, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "first_conv"), [("resnet18", "conv1"), ("mobilenet_v3_small", "features.0.0")]
)
def test_grayscale_rebuilds_only_the_first_conv(name, first_conv):
    rgb, gray = create_backbone(f"tv:{name}"), create_backbone(f"tv:{name}", in_chans=1)
    conv_rgb, conv_gray = rgb.model.get_submodule(first_conv), gray.model.get_submodule(first_conv)
    assert conv_gray.in_channels == 1 and conv_rgb.in_channels == 3
    for attr in ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
        assert getattr(conv_gray, attr) == getattr(conv_rgb, attr)
    shapes = {k: v.shape for k, v in rgb.state_dict().items()}
    changed = [k for k, v in gray.state_dict().items() if v.shape != shapes[k]]
    assert changed == [f"model.{first_conv}.weight"]
    assert gray(torch.randn(2, 1, 32, 32)).shape == (2, gray.num_features)
    with pytest.raises(ValueError, match=r"in_chans=1 input channels, got 3"):
        gray(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("tv:vit_b_16", {}, r"'tv:vit_b_16' is not supported.*tv:resnet18.*timm:"),
        ("tv:resnet19", {}, r"is not a torchvision classification model"),
        ("tv:resnet18", {"weights": "DEFAULT"}, r"weights= is fixed.*pretrained_path"),
        ("tv:resnet18", {"bogus": 1}, r"rejected kwargs.*bogus"),
    ],
)
def test_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_backbone(name, **kwargs)
