"""LabInputBackbone: spec rebuilds the same weights layout, token/pooled shapes, errors."""

from __future__ import annotations

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.methods.lab_base import lab_backbone_like


def test_spec_rebuilds_the_same_architecture() -> None:
    base = create_backbone("resnet_small", in_chans=3, image_size=16, width=4, depths=[1, 1])
    enc = lab_backbone_like(base, ["l", "ab"])
    spec = enc.spec
    assert spec["name"] == "lab:resnet_small" and spec["kwargs"]["groups"] == ["l", "ab"]
    again = create_backbone(spec["name"], **spec["kwargs"])
    again.load_state_dict(enc.state_dict())  # strict: same keys and shapes
    x = torch.rand(2, 3, 16, 16)
    enc.eval(), again.eval()
    torch.testing.assert_close(again(x), enc(x))
    assert enc(x).shape == (2, enc.num_features) == (2, 16)
    assert enc.forward_tokens(x).shape == (2, 64, 16)  # 8x8 grid (stride 2), 8 + 8 channels


def test_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="in_chans=3"):
        create_backbone("lab:resnet_small", groups=["l"], in_chans=1)
    with pytest.raises(ValueError, match="groups"):
        create_backbone("lab:resnet_small", groups=["l", "l"])
    enc = create_backbone("lab:resnet_small", groups=["l"], width=4, depths=[1])
    with pytest.raises(ValueError, match="already a Lab-input"):
        lab_backbone_like(enc, ["l"])
