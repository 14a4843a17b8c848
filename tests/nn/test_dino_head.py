"""DINO head: MLP -> unit bottleneck -> weight-normalized layer whose logits are cosines (gain fixed to 1)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.nn.dino_head import DINOHead, WeightNormLinear


def test_default_architecture_is_the_papers():
    head = DINOHead(384)
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(384, 2048), (2048, 2048), (2048, 256)]
    assert sum(isinstance(m, nn.GELU) for m in head.mlp) == 2
    assert head.last_layer.weight_v.shape == (65536, 256)
    assert not head.last_layer.weight_g.requires_grad  # norm_last_layer=True: gain fixed to 1


def test_forward_is_cosine_to_prototypes():
    torch.manual_seed(0)
    head = DINOHead(12, out_dim=40, hidden_dim=16, bottleneck_dim=8)
    x = torch.randn(5, 12)
    z = head.bottleneck(x)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(5))
    ref = F.normalize(head.mlp(x), dim=1) @ F.normalize(head.last_layer.weight_v, dim=1).T
    out = head(x)
    torch.testing.assert_close(out, ref)
    assert out.shape == (5, 40) and out.abs().max() <= 1.0 + 1e-6
    # Scaling a prototype's direction changes nothing: the weight is normalized row by row.
    with torch.no_grad():
        head.last_layer.weight_v[3] *= 7.0
    torch.testing.assert_close(head(x), out)


def test_learnable_gain_and_weight_norm_formula():
    layer = WeightNormLinear(4, 3, learn_gain=True)
    assert layer.weight_g.requires_grad
    with torch.no_grad():
        layer.weight_g.copy_(torch.tensor([1.0, 2.0, 0.5]))
    v = layer.weight_v.detach()
    expected = torch.tensor([1.0, 2.0, 0.5])[:, None] * v / v.norm(dim=1, keepdim=True)
    torch.testing.assert_close(layer.weight, expected)
    x = torch.randn(2, 4)
    torch.testing.assert_close(layer(x), x @ expected.T)
    assert DINOHead(
        4, out_dim=3, hidden_dim=4, bottleneck_dim=2, norm_last_layer=False
    ).last_layer.weight_g.requires_grad


def test_num_layers_and_bad_input():
    head = DINOHead(6, out_dim=10, hidden_dim=8, bottleneck_dim=4, num_layers=1)
    assert [type(m) for m in head.mlp] == [nn.Linear]
    with pytest.raises(ValueError, match=r"pooled features \[N, 6\]"):
        head(torch.randn(2, 7))
    with pytest.raises(ValueError, match="out_dim"):
        DINOHead(6, out_dim=0)


def test_batch_norm_option_standardizes_hidden_layers():
    head = DINOHead(6, out_dim=10, hidden_dim=8, bottleneck_dim=4, use_bn=True)
    assert [type(m) for m in head.mlp] == [nn.Linear, nn.BatchNorm1d, nn.GELU] * 2 + [nn.Linear]
    # A shared offset of every input is removed by the first batch norm (train mode): same output.
    x = torch.randn(5, 6)
    torch.testing.assert_close(head(x + 100.0 * torch.randn(1, 6)), head(x), rtol=1e-4, atol=1e-4)


def _reference_head(in_dim, out_dim, hidden_dim, bottleneck_dim, norm_last_layer=True) -> nn.Module:
    """DINO's official head construction order, written with torch's own weight norm: the MLP built and
    re-initialised (trunc_normal(0.02), zero bias) first, then a default-initialised bias-free linear layer
    wrapped in weight norm with its gain filled with 1."""
    mlp = nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.GELU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.GELU(),
        nn.Linear(hidden_dim, bottleneck_dim),
    )
    for m in mlp:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
    last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
    with torch.no_grad():
        last.parametrizations.weight.original0.fill_(1.0)
    last.parametrizations.weight.original0.requires_grad_(not norm_last_layer)
    return nn.ModuleDict({"mlp": mlp, "last_layer": last})


def test_init_equals_the_reference_and_the_last_layer_keeps_the_default_linear_init():
    torch.manual_seed(0)
    ref = _reference_head(12, 300, 16, 64)
    torch.manual_seed(0)
    head = DINOHead(12, out_dim=300, hidden_dim=16, bottleneck_dim=64)
    for ours, theirs in zip(
        [m for m in head.mlp if isinstance(m, nn.Linear)],
        [m for m in ref["mlp"] if isinstance(m, nn.Linear)],
        strict=True,
    ):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    v_ref = ref["last_layer"].parametrizations.weight.original1
    assert torch.equal(head.last_layer.weight_v, v_ref)
    assert torch.equal(head.last_layer.weight_g, torch.ones(300))
    x = torch.randn(5, 12)
    torch.testing.assert_close(head(x), ref["last_layer"](F.normalize(ref["mlp"](x), dim=-1)))
    # Default nn.Linear init, U(-1/sqrt(64), 1/sqrt(64)): not a truncated normal of std 0.02.
    v = head.last_layer.weight_v
    assert v.abs().max() <= 64**-0.5 and v.abs().max() > 0.9 * 64**-0.5
    assert v.std().item() == pytest.approx(64**-0.5 / 3**0.5, rel=0.05)
