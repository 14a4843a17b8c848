"""Loading local weights (pretrained_path): safe formats, key styles, clear mismatch errors."""

import pytest
import timm
import torch
from safetensors.torch import save_file

from selfsup.backbones import create_backbone, read_state_dict

VIT = ("timm:vit_tiny_patch16_224", {"image_size": 32, "patch_size": 8, "depth": 2})


class NotATensor:  # pickled by reference: the safe loader must refuse it
    pass


def _same_outputs(a, b, x):
    a.eval(), b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


def test_resnet_small_from_safetensors_and_torch_save(tmp_path):
    src = create_backbone("resnet_small", zero_init_residual=False)
    save_file(src.state_dict(), tmp_path / "w.safetensors")
    torch.save({"state_dict": src.state_dict(), "epoch": 3}, tmp_path / "w.pt")  # one wrapping level
    x = torch.randn(2, 3, 16, 16)
    for f in ("w.safetensors", "w.pt"):
        net = create_backbone("resnet_small", pretrained_path=tmp_path / f)
        _same_outputs(net, src, x)
        assert "pretrained_path" not in net.spec["kwargs"]  # export carries its own weights


def test_timm_accepts_plain_keys_adapter_keys_and_ignores_the_classifier(tmp_path):
    name, kw = VIT
    src = create_backbone(name, **kw)
    # A full timm classifier checkpoint: plain keys plus head.weight / head.bias.
    clf = timm.create_model("vit_tiny_patch16_224", num_classes=10, img_size=32, patch_size=8, depth=2)
    clf.load_state_dict(
        {**src.timm_state_dict(), **{k: v for k, v in clf.state_dict().items() if k.startswith("head.")}}
    )
    save_file(clf.state_dict(), tmp_path / "clf.safetensors")
    torch.save(src.state_dict(), tmp_path / "adapter.pt")  # "model."-prefixed keys
    x = torch.randn(2, 3, 32, 32)
    for f in ("clf.safetensors", "adapter.pt"):
        _same_outputs(create_backbone(name, pretrained_path=tmp_path / f, **kw), src, x)


def test_torchvision_ignores_fc(tmp_path):
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    net = create_backbone("tv:resnet18", pretrained_path=tmp_path / "r18.pth")
    ref.fc = torch.nn.Identity()
    _same_outputs(net, ref, torch.randn(2, 3, 32, 32))


def test_mismatched_weights_raise_clear_errors(tmp_path):
    save_file(create_backbone("resnet_small", width=8).state_dict(), tmp_path / "w8.safetensors")
    first = r"\['stem.0.weight: file \(8, 3, 3, 3\) vs backbone \(16, 3, 3, 3\)"
    with pytest.raises(
        ValueError, match=r"do not fit backbone 'resnet_small'.*shape mismatches, e.g. " + first
    ):
        create_backbone("resnet_small", pretrained_path=tmp_path / "w8.safetensors")
    partial = create_backbone("resnet_small", depths=[1, 1, 1, 1]).state_dict()
    save_file(partial, tmp_path / "d1.safetensors")
    with pytest.raises(ValueError, match=r"do not match backbone 'resnet_small': missing keys \['stages.0.1"):
        create_backbone("resnet_small", pretrained_path=tmp_path / "d1.safetensors")


def test_unsafe_or_malformed_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pt")
    torch.save({"weight": torch.zeros(1), "obj": NotATensor()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"safe loader \(weights_only=True\) refused"):
        read_state_dict(tmp_path / "evil.pt")
    torch.save({"epoch": 1, "lr": 0.1}, tmp_path / "meta.pt")
    with pytest.raises(ValueError, match=r"not a state_dict of tensors.*'epoch'"):
        read_state_dict(tmp_path / "meta.pt")
