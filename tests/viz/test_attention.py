"""Attention maps: valid maps, equal to a naive softmax(q k^T / sqrt(d)) reference, minimal 60 % masks."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.viz.attention import attention_maps, cnn_activation_map, mass_mask, upsample, vit_cls_attention
from selfsup.viz.attention_png import ModelRow, mask_overlay, save_attention_png

VIT = "timm:vit_tiny_patch16_224"


def _vit(**kw):
    torch.manual_seed(0)
    args = {"patch_size": 4, "embed_dim": 32, "depth": 2, "num_heads": 4, **kw}
    return create_backbone(VIT, in_chans=1, image_size=16, **args).eval()


def _x(b: int = 3, c: int = 1, s: int = 16) -> torch.Tensor:
    return torch.randn(b, c, s, s, generator=torch.Generator().manual_seed(1))


def _naive_cls_row(backbone, x: torch.Tensor) -> torch.Tensor:
    """Independent path: rebuild the tokens by hand, then softmax(q k^T / sqrt(d)) head by head.

    Returns the class-token row over all tokens ``[B, heads, T]`` (sums to 1 with the prefix tokens).
    """
    m = backbone.model
    tokens = m.patch_embed(x)
    prefix = [m.cls_token.expand(x.shape[0], -1, -1)]
    if getattr(m, "reg_token", None) is not None:
        prefix.append(m.reg_token.expand(x.shape[0], -1, -1))
    if m.no_embed_class:
        tokens = tokens + m.pos_embed
        h = torch.cat([*prefix, tokens], 1)
    else:
        h = torch.cat([*prefix, tokens], 1) + m.pos_embed
    h = m.norm_pre(h)
    for block in m.blocks[:-1]:
        h = block(h)
    last = m.blocks[-1]
    h = last.norm1(h)
    attn = last.attn
    d = attn.head_dim
    w, bias = attn.qkv.weight, attn.qkv.bias
    rows = []
    for head in range(attn.num_heads):
        q = h @ w[head * d : (head + 1) * d].T + bias[head * d : (head + 1) * d]
        k = h @ w[attn.attn_dim + head * d : attn.attn_dim + (head + 1) * d].T
        k = k + bias[attn.attn_dim + head * d : attn.attn_dim + (head + 1) * d]
        q, k = attn.q_norm(q), attn.k_norm(k)
        scores = q[:, 0:1] @ k.transpose(1, 2) / math.sqrt(d)  # [B, 1, T]
        rows.append(torch.softmax(scores[:, 0], dim=-1))
    return torch.stack(rows, 1)


@pytest.mark.parametrize("kw", [{}, {"reg_tokens": 2, "no_embed_class": True}, {"qk_norm": True}])
def test_vit_maps_equal_naive_reference_and_sum_to_one(kw) -> None:
    vit = _vit(**kw)
    x = _x()
    with torch.no_grad():
        out = vit_cls_attention(vit, x)
        row = _naive_cls_row(vit, x)
    prefix = vit.model.num_prefix_tokens
    assert out.kind == "cls_attention"
    assert out.maps.shape == (3, 4, 4, 4)  # [B, heads, gh, gw] for 16 px / patch 4, one map per head
    torch.testing.assert_close(row.sum(-1), torch.ones(3, 4))  # the raw row sums to 1 over all tokens
    torch.testing.assert_close(out.prefix_mass, row[..., :prefix].sum(-1), atol=1e-6, rtol=1e-5)
    expected = row[..., prefix:] / row[..., prefix:].sum(-1, keepdim=True)
    torch.testing.assert_close(out.maps.flatten(2), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.maps.sum((2, 3)), torch.ones(3, 4))
    assert bool((out.maps >= 0).all())
    # The raw attention is recovered from the renormalized maps and the dropped prefix mass.
    raw = out.maps.flatten(2) * (1 - out.prefix_mass).unsqueeze(-1)
    torch.testing.assert_close(raw, row[..., prefix:], atol=1e-6, rtol=1e-5)


def test_capture_leaves_the_model_unchanged() -> None:
    vit = _vit()
    x = _x()
    before = vit(x)
    vit_cls_attention(vit, x)
    assert not vit.model.blocks[-1].attn._forward_pre_hooks  # the hook is removed
    torch.testing.assert_close(vit(x), before, atol=0, rtol=0)


def test_maps_depend_on_the_image() -> None:
    vit = _vit()
    a = vit_cls_attention(vit, _x(2)).maps
    assert not torch.allclose(a[0], a[1])


def test_cnn_activation_map_is_normalized_channel_l2() -> None:
    torch.manual_seed(0)
    cnn = create_backbone("resnet_small", in_chans=3, image_size=32, width=4, depths=[1, 1, 1, 1]).eval()
    x = _x(2, 3, 32)
    out = attention_maps(cnn, x)
    assert out.kind == "activation"
    assert out.maps.shape == (2, 1, 4, 4)  # total stride 8
    with torch.no_grad():
        tokens = cnn.forward_tokens(x)
    ref = tokens.norm(dim=-1)
    ref = ref / ref.sum(-1, keepdim=True)
    torch.testing.assert_close(out.maps.flatten(1), ref)
    torch.testing.assert_close(cnn_activation_map(cnn, x).maps.sum((2, 3)), torch.ones(2, 1))


def _brute_force_min_size(values: list[float], mass: float) -> int:
    ordered = sorted(values, reverse=True)
    total, acc = sum(values), 0.0
    for i, v in enumerate(ordered):
        acc += v
        if acc >= mass * total - 1e-12:
            return i + 1
    return len(values)


def test_mass_mask_keeps_sixty_percent_and_is_minimal() -> None:
    vit = _vit()
    maps = vit_cls_attention(vit, _x(4)).maps  # [4, 4, 4, 4]
    mask = mass_mask(maps, 0.6)
    assert mask.shape == maps.shape and mask.dtype == torch.bool
    for b in range(4):
        for h in range(4):
            m, v = mask[b, h], maps[b, h].double()
            kept = float(v[m].sum())
            assert kept >= 0.6 - 1e-9
            smallest = float(v[m].min())
            assert kept - smallest < 0.6  # dropping its smallest patch falls below 60 %
            assert bool(m.all()) or float(v[m].min()) >= float(v[~m].max())  # it keeps the largest values
            assert int(m.sum()) == _brute_force_min_size(v.flatten().tolist(), 0.6)


def test_mass_mask_closed_forms() -> None:
    uniform = torch.full((1, 1, 4, 5), 1 / 20)
    assert int(mass_mask(uniform, 0.6).sum()) == 12  # 12 x 0.05 = 0.6 exactly
    one_hot = torch.zeros(1, 1, 3, 3)
    one_hot[0, 0, 1, 2] = 1.0
    m = mass_mask(one_hot, 0.6)
    assert int(m.sum()) == 1 and bool(m[0, 0, 1, 2])
    assert bool(mass_mask(uniform, 1.0).all())
    with pytest.raises(ValueError, match="mass must be in"):
        mass_mask(uniform, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        mass_mask(-uniform, 0.6)


def test_upsample_is_blockwise_nearest() -> None:
    maps = torch.arange(4.0).view(1, 1, 2, 2)
    up = upsample(maps, (4, 4))
    assert up[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_non_vit_errors_name_the_fix() -> None:
    cnn = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    with pytest.raises(ValueError, match="cnn_activation_map"):
        vit_cls_attention(cnn, _x(1))
    with pytest.raises(ValueError, match="in_chans=1"):
        vit_cls_attention(_vit(), _x(1, 3))


def test_png_has_a_row_per_model_and_masks_tinted(tmp_path) -> None:
    vit = _vit()
    att = vit_cls_attention(vit, _x(1))
    mask = mass_mask(att.maps, 0.6)
    image = torch.rand(1, 16, 16)
    overlay = mask_overlay(image, mask[0])
    assert overlay.shape == (16, 16, 3)
    covered = upsample(mask[0].float().unsqueeze(0), (16, 16))[0].sum(0) > 0
    grey = image[0].unsqueeze(-1).expand(-1, -1, 3)
    torch.testing.assert_close(overlay[~covered], 0.35 * grey[~covered])  # outside every mask: dimmed
    rows = [ModelRow("a", image, att.maps[0], mask[0]), ModelRow("b", image, att.maps[0][:1], mask[0][:1])]
    one = save_attention_png(rows[:1], tmp_path / "one.png")
    two = save_attention_png(rows, tmp_path / "two.png")
    w1, h1 = Image.open(one).size
    w2, h2 = Image.open(two).size
    assert w1 == w2 and h2 > 1.7 * h1  # same columns (2 + 4 heads), twice the rows
