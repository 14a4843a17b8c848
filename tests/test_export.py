"""Exported encoders are data: the JSON may only choose the architecture; damaged files are one line."""

import json

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.export import export_encoder, export_files, load_encoder


@pytest.fixture
def exported(tmp_path):
    encoder = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    return encoder, export_encoder(encoder, tmp_path / "enc")


def _edit(weights, change):
    meta_path = weights.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    change(meta)
    meta_path.write_text(json.dumps(meta))
    return meta_path


def _one_line_error(weights, *fragments):
    with pytest.raises(ValueError) as info:
        load_encoder(weights)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_an_export_round_trips(exported):
    encoder, weights = exported
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(load_encoder(weights)(x), encoder.eval()(x))


def test_a_timm_export_with_architecture_kwargs_round_trips(tmp_path):
    kwargs = dict(patch_size=4, embed_dim=32, depth=1, num_heads=2, dynamic_img_size=True)
    encoder = create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=16, **kwargs)
    weights = export_encoder(encoder, tmp_path / "vit")
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(load_encoder(weights)(x), encoder.eval()(x))


def test_a_dotted_name_is_kept_whole_and_a_stale_timm_file_goes(tmp_path):
    vit = create_backbone(
        "timm:vit_tiny_patch16_224", in_chans=1, image_size=8, patch_size=4, embed_dim=8, depth=1, num_heads=1
    )
    base = tmp_path / "out" / "name.v1.5"
    weights, timm_weights, meta = export_files(base)
    assert export_encoder(vit, base) == weights == tmp_path / "out" / "name.v1.5.safetensors"
    assert sorted(p.name for p in base.parent.iterdir()) == sorted(
        p.name for p in (weights, timm_weights, meta)
    )
    assert meta.name == "name.v1.5.json" and timm_weights.name == "name.v1.5.timm.safetensors"
    for same in (base, weights, meta, timm_weights):
        assert export_files(same) == [weights, timm_weights, meta]
    cnn = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    export_encoder(cnn, weights)  # re-exported without a timm model: no stale timm-named weights left
    assert sorted(p.name for p in base.parent.iterdir()) == ["name.v1.5.json", "name.v1.5.safetensors"]
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(load_encoder(base)(x), cnn.eval()(x))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("checkpoint_path", "/etc/passwd"),
        ("pretrained", True),
        ("pretrained_cfg", {"file": "/tmp/x.pth"}),
        ("pretrained_cfg_overlay", {"hf_hub_id": "someone/weights"}),
        ("pretrained_path", "/tmp/x.safetensors"),
        ("weights", "DEFAULT"),
    ],
)
def test_kwargs_that_open_or_fetch_files_are_refused(exported, key, value):
    _, weights = exported
    meta_path = _edit(weights, lambda m: m["backbone"]["kwargs"].update({key: value}))
    _one_line_error(weights, str(meta_path), f"backbone kwarg {key!r} is not allowed")


def test_a_timm_checkpoint_path_never_reaches_timm(tmp_path, monkeypatch):
    import timm

    encoder = create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=16, patch_size=4, depth=1)
    weights = export_encoder(encoder, tmp_path / "vit")
    _edit(weights, lambda m: m["backbone"]["kwargs"].update({"checkpoint_path": str(tmp_path / "evil.pth")}))
    called = []
    monkeypatch.setattr(timm, "create_model", lambda *a, **k: called.append(k))
    _one_line_error(weights, "'checkpoint_path' is not allowed")
    assert not called


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m.update(backbone="resnet_small"), "'backbone' must be an object with a string 'name'"),
        (lambda m: m["backbone"].update(name=7), "'backbone' must be an object with a string 'name'"),
        (lambda m: m["backbone"].update(kwargs=[1, 2]), "backbone 'kwargs' must be an object"),
        (lambda m: m["backbone"]["kwargs"].update(width="../../etc"), "backbone kwarg width='../../etc'"),
        (lambda m: m["backbone"]["kwargs"].update(width={"a": 1}), "must be a number"),
        (lambda m: m["backbone"].update(name="timm:../x"), "is not a backbone name"),
    ],
)
def test_wrong_typed_encoder_json_is_one_line(exported, change, fragment):
    _, weights = exported
    _edit(weights, change)
    _one_line_error(weights, fragment)


def test_invalid_json_is_one_line(exported):
    _, weights = exported
    weights.with_suffix(".json").write_text('{"backbone": ')
    _one_line_error(weights, "is not valid JSON")


def test_a_truncated_safetensors_file_is_one_line(exported):
    _, weights = exported
    weights.write_bytes(weights.read_bytes()[:100])
    _one_line_error(weights, f"{weights} is damaged or not a safetensors file")


def test_weights_of_another_shape_are_one_line(exported):
    _, weights = exported
    _edit(weights, lambda m: m["backbone"]["kwargs"].update(width=8))
    _one_line_error(weights, f"{weights} does not fit backbone resnet_small", "size mismatch")


PLAIN_TIMM = """
import json, sys
sys.modules["selfsup"] = None  # this process cannot import selfsup
import safetensors.torch, timm, torch
base = sys.argv[1]
meta = json.load(open(base + ".json"))
model = timm.create_model(**meta["timm"]).eval()
model.load_state_dict(safetensors.torch.load_file(base + ".timm.safetensors"), strict=True)
x = torch.load(base + ".x.pt")
torch.save(model(x), base + ".plain.pt")
"""


def test_an_exported_vit_loads_in_plain_timm_without_selfsup(tmp_path):
    """The export's ``"timm"`` config + its timm-named weights rebuild the encoder with timm alone."""
    import subprocess
    import sys

    kwargs = dict(patch_size=4, embed_dim=32, depth=2, num_heads=2)
    encoder = create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=16, **kwargs).eval()
    export_encoder(encoder, tmp_path / "vit.v1.5")
    base = str(tmp_path / "vit.v1.5")
    x = torch.randn(3, 1, 16, 16)
    torch.save(x, base + ".x.pt")
    cfg = json.loads((tmp_path / "vit.v1.5.json").read_text())["timm"]
    assert cfg["img_size"] == 16 and "image_size" not in cfg  # timm's own argument names
    subprocess.run([sys.executable, "-c", PLAIN_TIMM, base], check=True)
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "vit.v1.5.plain.pt"), encoder(x))
