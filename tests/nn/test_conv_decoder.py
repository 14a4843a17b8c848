"""ConvDecoder / spatial_features: the token map is the CNN feature map, output sizes, stage count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.nn.conv_decoder import ConvDecoder, spatial_features


def test_spatial_features_is_the_last_feature_map() -> None:
    net = create_backbone("resnet_small", in_chans=1, image_size=28, width=4, depths=[1, 1, 1, 1]).eval()
    x = torch.randn(2, 1, 28, 28)
    fmap = spatial_features(net, x)
    assert fmap.shape == (2, 32, 4, 4)  # ceil(28 / 8) = 4
    torch.testing.assert_close(fmap, net.feature_map(x))
    torch.testing.assert_close(fmap.mean((2, 3)), net(x))


def test_spatial_features_on_a_vit_grid() -> None:
    kw = {"patch_size": 4, "embed_dim": 16, "depth": 1, "num_heads": 2}
    vit = create_backbone("timm:vit_tiny_patch16_224", in_chans=3, image_size=16, **kw).eval()
    x = torch.randn(1, 3, 16, 16)
    fmap = spatial_features(vit, x)
    assert fmap.shape == (1, 16, 4, 4)
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), vit.forward_tokens(x))


@pytest.mark.parametrize(("in_size", "out_size", "stages"), [(4, 28, 3), (8, 16, 1), (4, 4, 0), (2, 32, 4)])
def test_decoder_output_size_and_stage_count(in_size: int, out_size: int, stages: int) -> None:
    dec = ConvDecoder(32, 5, (out_size, out_size), in_size=(in_size, in_size), width=16)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in dec.modules()) == stages
    out = dec(torch.randn(2, 32, in_size, in_size))
    assert out.shape == (2, 5, out_size, out_size)


def test_decoder_is_trainable_and_errors_are_clear() -> None:
    dec = ConvDecoder(8, 1, (8, 8), in_size=(2, 2), width=16)
    target = torch.randn(4, 1, 8, 8)
    feats = torch.randn(4, 8, 2, 2)
    opt = torch.optim.Adam(dec.parameters(), 1e-2)
    first = None
    for _ in range(60):
        loss = ((dec(feats) - target) ** 2).mean()
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.3 * first
    with pytest.raises(ValueError, match="upsample or in_size"):
        ConvDecoder(8, 1, (8, 8))
    with pytest.raises(ValueError, match="patch_size"):
        spatial_features(nn.Conv2d(1, 1, 1), torch.randn(1, 1, 4, 4))
