"""create_backbone / list_backbones: spec round trip, interface invariants, error messages."""

import json

import pytest
import torch

from selfsup.backbones import Backbone, create_backbone, list_backbones

# (name, kwargs, input size) covering every family; small so the whole file runs in seconds.
FAMILIES = [
    ("resnet_small", {"width": 8, "depths": [1, 1, 1, 1], "in_chans": 1}, 16),
    ("resnet18_cifar", {"zero_init_residual": False}, 16),
    ("tv:resnet18", {"in_chans": 1}, 32),
    ("timm:vit_tiny_patch16_224", {"image_size": 32, "patch_size": 8, "depth": 2}, 32),
    ("timm:resnet18", {"image_size": 32}, 32),
]


@pytest.mark.parametrize(("name", "kwargs", "size"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_spec_round_trip_rebuilds_identical_architecture(name, kwargs, size):
    net = create_backbone(name, **kwargs).eval()
    assert isinstance(net, Backbone)
    spec = json.loads(json.dumps(net.spec))  # what an exported encoder's JSON stores
    assert spec["name"] == name
    rebuilt = create_backbone(spec["name"], **spec["kwargs"]).eval()
    assert type(rebuilt) is type(net) and rebuilt.spec == net.spec
    ref_shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == ref_shapes
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    x = torch.randn(2, net.in_chans, size, size)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x))
        torch.testing.assert_close(rebuilt.forward_tokens(x), net.forward_tokens(x))


@pytest.mark.parametrize(("name", "kwargs", "size"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_interface_shapes_and_channel_check(name, kwargs, size):
    net = create_backbone(name, **kwargs)
    c = net.in_chans
    assert c == kwargs.get("in_chans", 3)
    x = torch.randn(2, c, size, size)
    assert net(x).shape == (2, net.num_features)
    n = -(-size // net.patch_size)  # ceil: padded strided convs round up
    assert net.forward_tokens(x).shape == (2, n * n, net.token_dim)
    wrong = 3 if c == 1 else 1
    for fn in (net, net.forward_tokens):
        with pytest.raises(ValueError, match=rf"expects in_chans={c} input channels, got {wrong}"):
            fn(torch.randn(2, wrong, size, size))
    with pytest.raises(ValueError, match=r"shape \[B, C, H, W\].*unsqueeze"):
        net(torch.randn(c, size, size))


def test_spec_is_a_copy():
    net = create_backbone("resnet_small")
    net.spec["kwargs"]["width"] = 999
    assert net.spec["kwargs"]["width"] == 16


def test_unknown_name_lists_families_and_suggests_prefixed_names():
    with pytest.raises(ValueError) as info:
        create_backbone("resnet18")
    msg = str(info.value)
    assert "unknown backbone 'resnet18'" in msg
    for part in (
        "resnet18_cifar",
        "resnet_small",
        "timm:<model_name>",
        "tv:<name>",
        "tv:resnet18",
        "timm:resnet18",
    ):
        assert part in msg


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("resnet18_cifar", {"width": 16}, r"unknown kwargs \['width'\].*zero_init_residual"),
        ("resnet_small", {"widht": 16}, r"unknown kwargs \['widht'\].*width, depths"),
        ("resnet_small", {"image_size": 4}, r"image_size must be an int >= 8"),
        ("resnet_small", {"in_chans": 0}, r"in_chans must be a positive int"),
        (42, {}, r"backbone name must be a string"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_backbone(name, **kwargs)


def test_list_backbones():
    names = list_backbones()
    assert names == sorted(names)
    for name in ("resnet_small", "resnet18_cifar", "tv:resnet18", "tv:resnet50", "timm:vit_tiny_patch16_224"):
        assert name in names
    assert "tv:vit_b_16" not in names  # unsupported by the tv adapter (use timm:)
    vits = list_backbones("timm:vit_tiny*")
    assert vits and all(n.startswith("timm:vit_tiny") for n in vits)
