"""CIFAR-style ResNets: shapes, reference architecture, cost ratio and zero-init residuals."""

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from selfsup.backbones import create_backbone
from selfsup.backbones.small_resnet import BasicBlock


def _flops(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "width", "size", "n_tokens"),
    [
        ("resnet_small", 128, 32, 16),  # 32 px / stride 8 -> 4x4 map
        ("resnet18_cifar", 512, 32, 16),
        ("resnet_small", 128, 28, 16),  # Fashion-MNIST: 28 -> 28, 14, 7, 4 (padded stride-2 convs round up)
        ("resnet_small", 128, 8, 1),  # smallest supported size: a 1x1 map
    ],
)
def test_shapes_and_tokens_average_to_pooled(name, width, size, n_tokens):
    net = create_backbone(name).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        pooled, tokens = net(x), net.forward_tokens(x)
    assert net.num_features == net.token_dim == width
    assert net.patch_size == 8
    assert pooled.shape == (2, width)
    assert tokens.shape == (2, n_tokens, width)
    # Global average pooling of the final map is the pooled feature.
    torch.testing.assert_close(tokens.mean(dim=1), pooled)


def test_resnet18_cifar_equals_torchvision_resnet18_with_simclr_cifar_stem():
    """SimCLR App. B.9: ResNet-18 with a 3x3 stride-1 stem conv and no max-pool."""
    ours = create_backbone("resnet18_cifar", zero_init_residual=False).eval()
    ref = torchvision.models.resnet18(weights=None)
    ref.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    ref.maxpool, ref.fc = nn.Identity(), nn.Identity()
    ref.eval()
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert len(ours_sd) == len(ref_sd)
    with torch.no_grad():  # non-trivial BN statistics so the comparison is sharp
        for name, t in ours_sd.items():
            if "running_var" in name:
                t.uniform_(0.5, 2.0)
            elif "running_mean" in name or name.endswith("bias"):
                t.normal_(0, 0.1)
    # Same module order, so entries pair up positionally; shapes must agree one to one.
    for (k_ours, v_ours), (k_ref, v_ref) in zip(ours_sd.items(), ref_sd.items(), strict=True):
        assert v_ours.shape == v_ref.shape, (k_ours, k_ref)
    ref.load_state_dict(dict(zip(ref_sd, ours_sd.values(), strict=True)), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)
    # 11,168,832 = the widely quoted 11,173,962 of CIFAR ResNet-18 minus its 10-way fc (5,130).
    assert _n_params(ours) == 11_168_832


def test_resnet_small_costs_about_one_sixteenth_of_resnet18_cifar():
    small, big = create_backbone("resnet_small"), create_backbone("resnet18_cifar")
    param_ratio = _n_params(small) / _n_params(big)
    assert 1 / 18 < param_ratio < 1 / 14, param_ratio
    x = torch.randn(1, 3, 32, 32)
    flops_small, flops_big = _flops(small, x), _flops(big, x)
    # CIFAR ResNet-18 is ~0.56 GMAC per 32 px image; FlopCounterMode counts 2 FLOPs per MAC.
    assert 1.0e9 < flops_big < 1.2e9, flops_big
    assert 1 / 18 < flops_small / flops_big < 1 / 12, flops_small / flops_big


def test_width_and_depths_are_configurable():
    net = create_backbone("resnet_small", width=8, depths=[1, 1, 1])
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3
    assert net.num_features == 32 and net.patch_size == 4
    assert net.forward_tokens(torch.randn(2, 3, 16, 16)).shape == (2, 16, 32)
    assert (
        len(
            [
                m
                for m in create_backbone("resnet_small", depths=[1, 1, 1, 1]).modules()
                if isinstance(m, BasicBlock)
            ]
        )
        == 4
    )


def test_grayscale_input():
    net = create_backbone("resnet_small", in_chans=1)
    assert net.stem[0].weight.shape == (16, 1, 3, 3)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 128)
    with pytest.raises(ValueError, match=r"in_chans=1 input channels, got 3"):
        net(torch.randn(2, 3, 28, 28))


def test_zero_init_residual_makes_every_block_start_as_its_shortcut():
    net = create_backbone("resnet_small", zero_init_residual=True)
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    for block in blocks:
        assert torch.count_nonzero(block.bn2.weight) == 0
        assert torch.all(block.bn1.weight == 1)
        x = torch.randn(2, block.conv1.in_channels, 8, 8)
        with torch.no_grad():
            # Residual branch is exactly zero: block(x) = ReLU(shortcut(x)) (identity shortcut: ReLU(x)).
            torch.testing.assert_close(block(x), torch.relu(block.shortcut(x)))
    off = create_backbone("resnet_small", zero_init_residual=False)
    block = next(m for m in off.modules() if isinstance(m, BasicBlock))
    assert torch.all(block.bn2.weight == 1)
    x = torch.randn(2, 16, 8, 8)
    assert not torch.allclose(block(x), torch.relu(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"width": 0}, "width must be a positive int"), ({"depths": []}, "depths must be a non-empty list")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_backbone("resnet_small", **kwargs)
