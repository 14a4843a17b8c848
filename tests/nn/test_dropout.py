"""disable_dropout_: every stochastic layer gets probability 0; mode, parameters and batch norm untouched."""

import torch
from timm.layers import DropBlock2d, DropPath, PatchDropout
from torch import nn
from torchvision.ops import StochasticDepth

from selfsup.backbones import create_backbone
from selfsup.nn.dropout import disable_dropout_, max_drop_path


def _stochastic_vit() -> nn.Module:
    torch.manual_seed(0)
    return create_backbone(
        "timm:vit_tiny_patch16_224",
        in_chans=1,
        image_size=16,
        patch_size=4,
        embed_dim=16,
        depth=2,
        num_heads=2,
        drop_path_rate=0.5,
        drop_rate=0.3,
        attn_drop_rate=0.3,
        proj_drop_rate=0.3,
        patch_drop_rate=0.25,
    )


def test_every_kind_of_layer_gets_probability_zero():
    net = nn.Sequential(
        nn.Dropout(0.5),
        nn.Dropout2d(0.3),
        nn.AlphaDropout(0.2),
        DropPath(0.4),
        DropBlock2d(0.1),
        PatchDropout(0.5),
        StochasticDepth(0.2, "row"),
        nn.BatchNorm1d(3),
    )
    changed = disable_dropout_(net)
    assert changed == ["0", "1", "2", "3", "4", "5", "6"]
    assert [net[0].p, net[1].p, net[2].p, net[3].drop_prob, net[4].drop_prob, net[5].prob, net[6].p] == [
        0.0
    ] * 7
    assert net.training and net[7].training  # the mode is not touched
    assert disable_dropout_(net) == []  # nothing left to change


def test_vit_with_every_dropout_becomes_deterministic_in_train_mode():
    net = _stochastic_vit().train()
    x = torch.randn(3, 1, 16, 16)
    torch.manual_seed(1)
    assert not torch.equal(net(x), net(x))  # drop path, dropout and patch dropout are on
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert max_drop_path(net) == 0.5  # timm: linear in depth up to drop_path_rate
    assert len(disable_dropout_(net)) > 5
    assert max_drop_path(net) == 0.0
    out = net(x)
    torch.testing.assert_close(net(x), out, rtol=0, atol=0)
    torch.testing.assert_close(net.eval()(x), out)  # no batch norm in a ViT: train == eval
    assert net.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
