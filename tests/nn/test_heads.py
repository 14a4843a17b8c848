"""ProjectionHead: SimCLR v1/v2 layer structure, the function it computes, BN behaviour, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.nn.heads import ProjectionHead


def _kinds(head: ProjectionHead) -> list[str]:
    return [type(m).__name__ for m in head.net]


def test_simclr_v1_structure_and_function():
    head = ProjectionHead(16, hidden_dim=32)  # defaults: 2 layers, out 128, BN in the hidden layer
    assert _kinds(head) == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    lin1, bn, _, lin2 = head.net
    assert lin1.bias is None and lin2.bias is not None  # bias before BN is redundant
    assert (lin1.in_features, lin1.out_features, lin2.out_features) == (16, 32, 128)

    head.eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(5, 16)
    h = (x @ lin1.weight.T - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    expected = torch.relu(h) @ lin2.weight.T + lin2.bias  # z = W2 σ(BN(W1 h)) + b2
    torch.testing.assert_close(head(x), expected)


def test_simclr_v2_three_layers_and_last_bn():
    head = ProjectionHead(8, hidden_dim=12, out_dim=6, num_layers=3, last_bn=True)
    assert _kinds(head) == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear", "BatchNorm1d"]
    assert head.net[-2].bias is None and not head.net[-1].affine
    z = head.train()(torch.randn(64, 8) * 3 + 1)
    assert z.shape == (64, 6)
    # training-mode affine-free BN: every output dimension has zero mean and unit (biased) variance
    torch.testing.assert_close(z.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.var(0, unbiased=False), torch.ones(6), atol=1e-3, rtol=0)


def test_without_batch_norm_and_single_linear():
    head = ProjectionHead(8, hidden_dim=10, out_dim=4, batch_norm=False)
    assert _kinds(head) == ["Linear", "ReLU", "Linear"] and head.net[0].bias is not None
    linear = ProjectionHead(8, out_dim=4, num_layers=1)
    assert _kinds(linear) == ["Linear"]
    x = torch.randn(3, 8)
    torch.testing.assert_close(linear(x), x @ linear.net[0].weight.T + linear.net[0].bias)


def test_gradients_reach_every_parameter():
    head = ProjectionHead(8, hidden_dim=16, out_dim=4, num_layers=3)
    head(torch.randn(10, 8)).pow(2).sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_dim": 0},
        {"in_dim": 8, "hidden_dim": -1},
        {"in_dim": 8, "out_dim": 0},
        {"in_dim": 8, "num_layers": 0},
        {"in_dim": 8.0},
        {"in_dim": 8, "num_layers": True},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="ProjectionHead"):
        ProjectionHead(**kwargs)


def test_wrong_feature_size_names_in_dim():
    head = ProjectionHead(8, hidden_dim=4, out_dim=2)
    with pytest.raises(ValueError, match=r"\[B, 8\].*in_dim"):
        head(torch.randn(3, 7))
    with pytest.raises(ValueError, match="pool"):
        head(torch.randn(3, 8, 2, 2))


def test_is_a_module_with_expected_parameter_count():
    head = ProjectionHead(512, hidden_dim=2048, out_dim=128)
    assert isinstance(head, nn.Module)
    # 512·2048 (no bias) + 2·2048 (BN affine) + 2048·128 + 128
    assert sum(p.numel() for p in head.parameters()) == 512 * 2048 + 2 * 2048 + 2048 * 128 + 128
