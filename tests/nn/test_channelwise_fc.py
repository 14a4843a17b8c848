"""Encoder-decoder bridges: channel-wise FC equals its naive per-channel matrix product; pooled bridge."""

from __future__ import annotations

import pytest
import torch

from selfsup.nn.channelwise_fc import ChannelwiseFC, PooledBridge


def test_channelwise_fc_matches_a_per_channel_loop() -> None:
    torch.manual_seed(0)
    layer = ChannelwiseFC(3, 2, 3)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(4, 3, 2, 3)
    pre = torch.empty(4, 3, 6)
    for d in range(3):  # naive: each channel's 6 positions through its own 6x6 matrix
        pre[:, d] = x[:, d].reshape(4, 6) @ layer.weight[d].T + layer.bias[d]  # weight [D, out, in]
    expected = layer.mix(torch.relu(pre).view(4, 3, 2, 3))
    torch.testing.assert_close(layer(x), expected)


def test_channelwise_fc_moves_information_across_positions_but_not_channels() -> None:
    torch.manual_seed(0)
    layer = ChannelwiseFC(2, 3, 3)
    torch.nn.init.eye_(layer.mix.weight.view(2, 2))
    torch.nn.init.zeros_(layer.mix.bias)
    with torch.no_grad():
        layer.bias.fill_(100.0)  # every ReLU active, so gradients flow wherever a weight connects
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    layer(x)[0, 0, 2, 2].backward()  # one output cell of channel 0
    g = x.grad[0]
    assert g[0, 0, 0] != 0  # the opposite corner reaches it (a 3x3 conv would not from 2 cells away)
    assert torch.all(g[1] == 0)  # no mixing before the 1x1 conv


def test_pooled_bridge_sees_only_the_mean() -> None:
    torch.manual_seed(0)
    bridge = PooledBridge(4, 2, 2)
    x = torch.randn(2, 4, 2, 2)
    y = x.mean((2, 3), keepdim=True).expand_as(x)
    torch.testing.assert_close(bridge(x), bridge(y))
    assert bridge(x).shape == (2, 4, 2, 2)


def test_shape_errors_name_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"\[B, 3, 2, 2\]"):
        ChannelwiseFC(3, 2, 2)(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="expected"):
        PooledBridge(3, 2, 2)(torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="channels"):
        PooledBridge(0, 2, 2)
