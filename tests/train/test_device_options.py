"""train.channels_last / train.compile: what they resolve to and that they keep the model's contract."""

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.methods.dino import DINOConfig
from selfsup.methods.mae import MAEConfig
from selfsup.methods.simclr import SimCLRConfig
from selfsup.registry import create_method
from selfsup.train.config_loader import ConfigError, load_run_config
from selfsup.train.device_options import (
    apply_memory_format,
    compile_method,
    compile_regions,
    conv_layers,
    use_channels_last,
)


def _cnn():
    return create_method(
        "simclr", create_backbone("resnet_small", in_chans=3, width=8, depths=[1, 1, 1, 1]), SimCLRConfig()
    )


def _vit():
    kwargs = dict(in_chans=3, img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2)
    return create_method(
        "mae",
        create_backbone("timm:vit_tiny_patch16_224", **kwargs),
        MAEConfig(decoder_depth=1, decoder_dim=32),
    )


def test_auto_is_channels_last_only_for_cnns_on_cuda():
    cnn, vit = _cnn(), _vit()
    assert conv_layers(cnn) > 1 and conv_layers(vit) == 1  # a ViT has one conv: its patch embedding
    assert use_channels_last("auto", cnn, "cuda") and not use_channels_last("auto", cnn, "cpu")
    assert not use_channels_last("auto", vit, "cuda")
    kwargs = dict(in_chans=3, img_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2)
    dino = create_method(
        "dino", create_backbone("timm:vit_tiny_patch16_224", **kwargs), DINOConfig(out_dim=16, hidden_dim=16)
    )
    assert conv_layers(dino) == 2  # student and teacher patch embeddings: still a ViT
    assert not use_channels_last("auto", dino, "cuda")
    assert use_channels_last(True, vit, "cuda") and not use_channels_last("false", cnn, "cuda")
    with pytest.warns(UserWarning, match="ignored on the CPU"):
        assert not use_channels_last(True, cnn, "cpu")


def test_channels_last_changes_layout_not_values():
    torch.manual_seed(0)
    method = _cnn().eval()
    x = torch.rand(2, 3, 32, 32)
    before = method.encoder(x)
    assert apply_memory_format(method, True, "cuda")  # the layout change itself needs no GPU
    weight = next(p for p in method.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(method.encoder(x), before, rtol=1e-5, atol=1e-5)


def test_compile_is_regional_for_transformers_and_keeps_state_dict_keys():
    vit, cnn = _vit(), _cnn()
    blocks = compile_regions(vit)
    assert len(blocks) == 3  # 2 encoder blocks + 1 decoder block, one compiled graph shared by all
    assert compile_regions(cnn) == [cnn.encoder]
    keys = list(vit.state_dict())
    assert compile_method(vit) == 3
    assert list(vit.state_dict()) == keys  # in-place compile: checkpoints and exports unchanged
    assert all(b._compiled_call_impl is not None for b in blocks)


def test_config_rejects_bad_channels_last():
    assert load_run_config(None, ["train.channels_last=true"], method="simclr").train.channels_last is True
    with pytest.raises((ConfigError, ValueError), match="train.channels_last"):
        load_run_config(None, ["train.channels_last=sometimes"], method="simclr")
