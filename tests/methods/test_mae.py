"""MAE method: behaviour of the training step, efficiency in FLOPs, export as a plain timm ViT."""

from __future__ import annotations

import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from selfsup.backbones import create_backbone
from selfsup.methods.mae import MAE, MAEConfig
from selfsup.nn.patches import patchify
from selfsup.nn.vit_encoder import vit_encode_visible
from selfsup.registry import create_method
from selfsup.types import Progress

_KW = {"patch_size": 4, "embed_dim": 32, "depth": 2, "num_heads": 2}


def _mae(**cfg) -> MAE:
    torch.manual_seed(0)
    backbone = create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=16, **_KW)
    config = MAEConfig(decoder_dim=16, decoder_depth=1, decoder_heads=2, **cfg)
    return create_method("mae", backbone, config)


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def test_make_batch_is_deterministic_and_carries_mask_noise() -> None:
    m = _mae()
    a = m.make_batch(_images(), generator=torch.Generator().manual_seed(3))
    b = m.make_batch(_images(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.views[0], b.views[0]) and torch.equal(
        a.targets["mask_noise"], b.targets["mask_noise"]
    )
    assert a.targets["mask_noise"].shape == (8, 16)
    out1, out2 = m.training_step(a, Progress(0, 10)), m.training_step(b, Progress(0, 10))
    assert out1.loss.item() == out2.loss.item()
    assert out1.features.shape == (8, 32)


def test_loss_equals_masked_mse_on_normalized_patches() -> None:
    m = _mae()
    x = torch.randn(4, 1, 16, 16)
    noise = torch.rand(4, 16)
    loss, pred, mask, _ = m.forward_mae(x, noise=noise)
    assert mask.sum(1).tolist() == [12.0] * 4  # 16 patches, 75 % masked
    t = patchify(x, 4)
    t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()
    ref = (((pred - t) ** 2).mean(-1) * mask).sum() / mask.sum()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


def test_training_overfits_one_batch() -> None:
    m = _mae(mask_ratio=0.5)
    batch = m.make_batch(_images(16), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW([p for g in m.param_groups(0.0) for p in g["params"]], lr=3e-3)
    losses = []
    for step in range(40):
        out = m.training_step(batch, Progress(step, 40))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_param_groups_and_frozen_positions() -> None:
    m = _mae()
    groups = m.param_groups(0.05)
    names = {id(p): n for n, p in m.named_parameters()}
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert "encoder.model.cls_token" in no_decay and "decoder.mask_token" in no_decay
    assert "encoder.model.pos_embed" not in names.values() or not m.encoder.model.pos_embed.requires_grad
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in m.parameters())


def test_encoder_on_visible_patches_costs_a_quarter_of_the_flops() -> None:
    m = _mae()
    x = torch.randn(4, 1, 16, 16)
    flops = []
    for ratio in (0.0, 0.75):
        with FlopCounterMode(display=False) as counter:
            latent, _ = vit_encode_visible(m.encoder.model, x, ratio)
            latent.sum().backward()
        flops.append(counter.get_total_flops())
    assert flops[1] / flops[0] <= 0.35


def test_exported_encoder_is_a_plain_timm_vit() -> None:
    m = _mae()
    plain = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=0, **m.encoder.timm_kwargs
    )
    plain.load_state_dict(m.encoder.timm_state_dict(), strict=True)
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(plain.eval()(x), m.encoder.eval()(x))


def test_config_errors_name_the_field_and_backbone_must_be_a_vit() -> None:
    with pytest.raises(ValueError, match="method.mask_ratio"):
        MAEConfig(mask_ratio=1.0).validate()
    with pytest.raises(ValueError, match="method.decoder_heads"):
        MAEConfig(decoder_dim=16, decoder_heads=3).validate()
    with pytest.raises(ValueError, match="timm:vit"):
        create_method("mae", create_backbone("resnet_small", in_chans=1, width=8, depths=[1, 1, 1, 1]))
