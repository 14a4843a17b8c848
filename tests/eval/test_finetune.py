"""Fine-tuning: layer-wise lr decay groups, drop path, and a short run that learns digits."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from timm.layers import DropPath

from selfsup.backbones import create_backbone
from selfsup.eval.finetune import FinetuneConfig, finetune, layer_decay_param_groups, vit_layer_id

_VIT = {"patch_size": 2, "embed_dim": 32, "depth": 3, "num_heads": 2}


def _vit(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=8, **{**_VIT, **kw})


def test_vit_layer_ids_follow_beit() -> None:
    assert vit_layer_id("encoder.model.cls_token", 12) == 0
    assert vit_layer_id("encoder.model.pos_embed", 12) == 0
    assert vit_layer_id("encoder.model.patch_embed.proj.weight", 12) == 0
    assert vit_layer_id("encoder.model.blocks.0.attn.qkv.weight", 12) == 1
    assert vit_layer_id("encoder.model.blocks.11.mlp.fc2.bias", 12) == 12
    assert vit_layer_id("encoder.model.norm.weight", 12) == 13
    assert vit_layer_id("head.weight", 12) == 13


def test_layer_decay_scales_and_no_decay_sets() -> None:
    model = torch.nn.ModuleDict({"encoder": _vit(), "head": torch.nn.Linear(32, 10)})
    groups = layer_decay_param_groups(model, weight_decay=0.05, layer_decay=0.5)
    scale = {n: g["lr_scale"] for g in groups for n in g["names"]}
    wd = {n: g["weight_decay"] for g in groups for n in g["names"]}
    n = 3
    assert scale["encoder.model.pos_embed"] == 0.5 ** (n + 1)
    assert scale["encoder.model.patch_embed.proj.weight"] == 0.5 ** (n + 1)
    for i in range(n):
        assert scale[f"encoder.model.blocks.{i}.attn.qkv.weight"] == 0.5 ** (n - i)
    assert scale["head.weight"] == 1.0 and scale["encoder.model.norm.weight"] == 1.0
    assert wd["encoder.model.blocks.0.attn.qkv.weight"] == 0.05 and wd["head.weight"] == 0.05
    for name in (
        "encoder.model.pos_embed",
        "encoder.model.cls_token",
        "head.bias",
        "encoder.model.norm.weight",
    ):
        assert wd[name] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_drop_path_rebuild_keeps_weights_and_sets_linear_rates() -> None:
    from selfsup.eval.finetune import _with_drop_path

    enc = _vit()
    rebuilt = _with_drop_path(enc, 0.2)
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in rebuilt.model.blocks]
    assert all(isinstance(b.drop_path1, DropPath) for b in rebuilt.model.blocks[1:])
    assert rates == pytest.approx([0.0, 0.1, 0.2])  # timm: linear in depth
    for (k, v), (k2, v2) in zip(enc.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_short_finetune_learns_digits_and_leaves_encoder_untouched() -> None:
    from selfsup.data import create_dataset, dataset_to_tensors

    xtr, ytr = dataset_to_tensors(create_dataset("digits", "train"), max_items=512)
    xte, yte = dataset_to_tensors(create_dataset("digits", "test"))
    # A small CNN (no blocks: every lr scale is 1) learns 8x8 digits in a few dozen steps; a ViT
    # from scratch needs far more, which is the point of pretraining it.
    torch.manual_seed(0)
    enc = create_backbone("resnet_small", in_chans=1, image_size=8, width=8, depths=[1, 1, 1, 1])
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = FinetuneConfig(
        epochs=15, batch_size=64, lr=8e-3, warmup_epochs=1, crop_scale=(1.0, 1.0), flip_p=0.0, drop_path=0.0
    )
    result = finetune(enc, xtr, ytr, xte, yte, cfg)
    assert result.test_accuracy > 0.6  # chance is 0.1
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert all(torch.equal(v, enc.state_dict()[k]) for k, v in before.items())


def test_drop_path_only_where_the_backbone_has_it() -> None:
    from selfsup.eval.finetune import _with_drop_path

    # The default CNN has no stochastic depth: fine-tuning with the default drop_path=0.1 copies it as is.
    cnn = create_backbone("resnet_small", in_chans=1, image_size=8, width=8, depths=[1, 1, 1, 1])
    copy = _with_drop_path(cnn, 0.1)
    assert copy is not cnn and type(copy) is type(cnn)
    assert all(torch.equal(v, cnn.state_dict()[k]) for k, v in copy.state_dict().items())
    # A timm CNN that takes drop_path_rate gets it, like a ViT.
    torch.manual_seed(0)
    timm_cnn = create_backbone("timm:resnet10t", in_chans=1, image_size=16)
    rebuilt = _with_drop_path(timm_cnn, 0.2)
    assert max(m.drop_prob for m in rebuilt.modules() if isinstance(m, DropPath)) == pytest.approx(0.2)


def test_default_config_finetunes_a_cnn_and_reports_no_drop_path() -> None:
    from selfsup.data import create_dataset, dataset_to_tensors

    xtr, ytr = dataset_to_tensors(create_dataset("digits", "train"), max_items=64)
    enc = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    lines: list[str] = []
    result = finetune(enc, xtr, ytr, None, None, FinetuneConfig(epochs=1, batch_size=32), log=lines.append)
    assert result.steps == 2 and result.drop_path == 0.0
    assert any("no stochastic depth" in line for line in lines)
    vit = finetune(_vit(), xtr, ytr, None, None, FinetuneConfig(epochs=1, batch_size=32, drop_path=0.2))
    assert vit.drop_path == pytest.approx(0.2)


def test_one_seed_gives_one_result_whatever_ran_before_and_the_global_rng_is_left_alone() -> None:
    from selfsup.data import create_dataset, dataset_to_tensors

    x, y = dataset_to_tensors(create_dataset("digits", "train"), max_items=128)
    enc = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    cfg = FinetuneConfig(epochs=2, batch_size=32, lr=8e-3, warmup_epochs=0.5, seed=3)
    torch.manual_seed(0)
    first = finetune(enc, x, y, x, y, cfg)
    torch.manual_seed(1)  # another global state: the head's init must not depend on it
    state = torch.get_rng_state()
    second = finetune(enc, x, y, x, y, cfg)
    assert torch.equal(torch.get_rng_state(), state)
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert first.test_accuracy == second.test_accuracy
    other = finetune(enc, x, y, x, y, dataclasses.replace(cfg, seed=4))
    assert [h["train_loss"] for h in other.history] != [h["train_loss"] for h in first.history]
