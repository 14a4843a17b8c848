"""timm adapter: ViT tokens without prefix tokens, CNN maps flattened, timm-compatible weights."""

import pytest
import timm
import torch

from selfsup.backbones import create_backbone

VIT = "timm:vit_tiny_patch16_224"


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return create_backbone(VIT, image_size=32, patch_size=8).eval()


def test_vit_shapes_and_tokens_are_patch_tokens_without_class_token(vit):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pooled, tokens, full = vit(x), vit.forward_tokens(x), vit.model.forward_features(x)
    assert vit.patch_size == 8 and vit.num_prefix_tokens == 1
    assert vit.num_features == vit.token_dim == 192
    assert full.shape == (2, 1 + 16, 192)
    assert tokens.shape == (2, (32 // 8) ** 2, 192)
    torch.testing.assert_close(tokens, full[:, 1:])
    # vit_* pools with the (normed) class token, which must not appear among the tokens.
    torch.testing.assert_close(pooled, full[:, 0])
    assert not any(torch.allclose(full[:, 0], tokens[:, i]) for i in range(tokens.shape[1]))


def test_vit_patch_size_4_gives_64_tokens():
    vit4 = create_backbone(VIT, image_size=32, patch_size=4, depth=1)
    assert vit4.patch_size == 4
    assert vit4.forward_tokens(torch.randn(1, 3, 32, 32)).shape == (1, 64, 192)


def test_register_tokens_are_stripped_too():
    net = create_backbone(VIT, image_size=32, patch_size=8, reg_tokens=4, depth=2).eval()
    assert net.num_prefix_tokens == 5
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens, full = net.forward_tokens(x), net.model.forward_features(x)
    assert tokens.shape == (2, 16, 192)
    torch.testing.assert_close(tokens, full[:, 5:])


def test_adapter_keys_are_timm_keys_and_timm_state_dict_loads_into_plain_timm(vit):
    adapter_keys = list(vit.state_dict())
    plain = vit.timm_state_dict()
    assert adapter_keys == ["model." + k for k in plain]
    ref = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=0, in_chans=3, img_size=32, patch_size=8
    ).eval()
    ref.load_state_dict(plain, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ref(x), vit(x))
        torch.testing.assert_close(ref.forward_features(x)[:, 1:], vit.forward_tokens(x))
    # timm_kwargs is exactly what rebuilds the plain model.
    assert vit.timm_kwargs == {"in_chans": 3, "img_size": 32, "patch_size": 8}


def test_grayscale_vit():
    net = create_backbone(VIT, in_chans=1, image_size=32, patch_size=8, depth=1)
    assert net.model.patch_embed.proj.weight.shape == (192, 1, 8, 8)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 192)
    with pytest.raises(ValueError, match=r"expects in_chans=1 input channels, got 3"):
        net(torch.randn(2, 3, 32, 32))


def test_wrong_image_size_names_the_fix_and_dynamic_size_works(vit):
    with pytest.raises(
        ValueError, match=r"built for 32x32 images, got 48x48.*image_size=48.*dynamic_img_size"
    ):
        vit(torch.randn(1, 3, 48, 48))
    dyn = create_backbone(VIT, image_size=32, patch_size=8, depth=1, dynamic_img_size=True)
    assert dyn.forward_tokens(torch.randn(1, 3, 48, 48)).shape == (1, 36, 192)


def test_cnn_tokens_are_the_flattened_final_map():
    net = create_backbone("timm:resnet18", image_size=64).eval()
    assert "img_size" not in net.timm_kwargs  # CNNs take no img_size; it is dropped, not an error
    assert net.spec["kwargs"]["image_size"] == 64 and net.image_size == 64
    assert net.patch_size == 32 and net.num_prefix_tokens == 0
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        tokens, pooled, fmap = net.forward_tokens(x), net(x), net.model.forward_features(x)
    assert tokens.shape == (2, 4, 512) and pooled.shape == (2, 512)
    torch.testing.assert_close(tokens, fmap.flatten(2).transpose(1, 2))  # row-major h*w order
    torch.testing.assert_close(tokens.mean(1), pooled)


def test_pooled_width_can_differ_from_token_width():
    # MobileNetV3's conv_head widens pooled features (timm's head_hidden_size) beyond the map's channels.
    net = create_backbone("timm:mobilenetv3_small_050")
    x = torch.randn(1, 3, 64, 64)
    assert net(x).shape == (1, net.num_features)
    assert net.forward_tokens(x).shape == (1, 4, net.token_dim)
    assert net.num_features != net.token_dim


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("timm:vit_tiny_patch16_2244", {}, r"timm has no model.*did you mean timm:vit_tiny_patch16_224"),
        (VIT, {"pretrained": True}, r"pretrained= is fixed.*pretrained_path"),
        (VIT, {"num_classes": 10}, r"num_classes= is fixed"),
        ("timm:resnet18", {"not_an_arg": 1}, r"rejected the arguments.*not_an_arg"),
    ],
)
def test_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_backbone(name, **kwargs)
