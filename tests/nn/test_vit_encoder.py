"""The visible-patch encoder equals timm's own forward on the same tokens."""

from __future__ import annotations

import pytest
import timm
import torch

from selfsup.nn.pos_embed import sincos_2d
from selfsup.nn.vit_encoder import init_mae_vit, vit_encode_visible


def _vit(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    args = {"img_size": 28, "patch_size": 4, "embed_dim": 32, "depth": 2, "num_heads": 2, "in_chans": 1}
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, **{**args, **kw}).eval()


def test_no_masking_in_raster_order_equals_timm_forward_features() -> None:
    model = _vit()
    x = torch.randn(3, 1, 28, 28)
    noise = torch.arange(49.0).expand(3, -1)  # identity order
    latent, masking = vit_encode_visible(model, x, 0.0, noise=noise)
    assert masking.mask.sum() == 0
    torch.testing.assert_close(latent, model.forward_features(x), rtol=1e-5, atol=1e-5)


def test_visible_subset_equals_timm_blocks_on_that_subset() -> None:
    model = _vit()
    x = torch.randn(2, 1, 28, 28)
    latent, masking = vit_encode_visible(model, x, 0.75, generator=torch.Generator().manual_seed(0))
    assert latent.shape == (2, 1 + 12, 32)
    with torch.no_grad():
        full = model._pos_embed(model.patch_embed(x))  # timm: [cls + 49 patches] with positions
        for i in range(2):
            tokens = torch.cat([full[i, :1], full[i, 1 + masking.ids_keep[i]]]).unsqueeze(0)
            ref = model.norm(model.blocks(tokens))
            torch.testing.assert_close(latent[i : i + 1], ref, rtol=1e-5, atol=1e-5)


def test_register_tokens_are_kept_in_front() -> None:
    model = _vit(reg_tokens=2, no_embed_class=True)
    x = torch.randn(2, 1, 28, 28)
    latent, _ = vit_encode_visible(model, x, 0.0, noise=torch.arange(49.0).expand(2, -1))
    torch.testing.assert_close(latent, model.forward_features(x), rtol=1e-5, atol=1e-5)


def test_mae_init_sets_frozen_sincos_positions() -> None:
    model = _vit()
    init_mae_vit(model)
    assert torch.equal(model.pos_embed[0], sincos_2d(32, (7, 7), cls_token=True))
    assert not model.pos_embed.requires_grad
    assert model.blocks[0].attn.qkv.bias.abs().sum() == 0


def test_wrong_image_size_is_named() -> None:
    model = _vit(dynamic_img_size=True)
    with pytest.raises(ValueError, match="image_size"):
        vit_encode_visible(model, torch.randn(1, 1, 32, 32), 0.75)
