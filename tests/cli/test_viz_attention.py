"""``selfsup viz attention`` end to end on digits: checkpoint and exported encoder agree, PNGs, --compare.

Also ``selfsup train-supervised`` on digits (num_classes filled from the data, classifier accuracy
written) and ``viz reconstruct`` still reachable through the restructured ``viz`` command.
"""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from PIL import Image

from selfsup.cli import supervised_cmd, viz_cmd
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from selfsup.viz.attention import mass_mask
from selfsup.viz.attention_report import model_attention
from selfsup.viz.encoder_source import load_viz_encoder

TINY_VIT = [
    "data.name=digits",
    "backbone=timm:vit_tiny_patch16_224",
    "backbone_kwargs={patch_size: 2, embed_dim: 16, depth: 1, num_heads: 2}",
    "train.batch_size=32",
    "train.precision=32-true",
    "train.progress_bar=false",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    viz_cmd.add_parser(sub)
    supervised_cmd.add_parser(sub)
    return parser


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    mae = pretrain(
        load_run_config(
            None,
            [
                *TINY_VIT,
                "method.decoder_dim=8",
                "method.decoder_depth=1",
                "method.decoder_heads=2",
                "train.max_steps=2",
                f"train.out_dir={root}",
                "train.run_name=mae",
            ],
            method="mae",
        )
    )
    args = _parser().parse_args(
        ["train-supervised", *TINY_VIT, "train.max_steps=3", f"train.out_dir={root}", "train.run_name=sup"]
        + ["eval.max_test_items=100", "--no-eval"]
    )
    assert args.run(args) == 0
    return root, mae


def test_train_supervised_fills_num_classes_and_scores_the_classifier(runs) -> None:
    root, _ = runs
    cfg = load_run_config(root / "sup" / "config.yaml")
    assert cfg.method_name == "supervised" and cfg.method.num_classes == 10  # digits has 10 classes
    result = json.loads((root / "sup" / "classifier.json").read_text())
    assert result["test_items"] == 100 and 0.0 <= result["test_top1"] <= 1.0
    assert (root / "sup" / "encoder.safetensors").is_file()


def test_train_supervised_without_labels_is_a_clear_error(tmp_path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.fromarray((torch.rand(8, 8) * 255).byte().numpy()).save(folder / f"{i}.png")
    args = _parser().parse_args(["train-supervised", "data.name=folder", f"data.root={folder}"])
    with pytest.raises(ValueError, match="needs labels"):
        args.run(args)


def test_checkpoint_and_exported_encoder_give_the_same_maps(runs) -> None:
    _, mae = runs
    from_ckpt = load_viz_encoder(mae.run_dir / "checkpoints" / "last.ckpt")
    from_export = load_viz_encoder(mae.encoder_path)
    images = torch.randint(
        0, 256, (3, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    a, b = model_attention(from_ckpt, images), model_attention(from_export, images)
    assert a.maps.shape == (3, 2, 4, 4)  # 2 heads on the 4x4 grid of 8 px digits with patch 2
    torch.testing.assert_close(a.maps, b.maps, atol=1e-6, rtol=0)
    torch.testing.assert_close(a.maps.sum((2, 3)), torch.ones(3, 2))
    assert from_ckpt.label.startswith("mae") and from_export.label.startswith("mae")
    kept = (a.maps * mass_mask(a.maps)).sum((2, 3))
    assert bool((kept >= 0.6 - 1e-6).all())


def test_viz_attention_writes_one_png_per_image_and_compare_adds_a_row(runs, tmp_path, capsys) -> None:
    root, mae = runs
    sup_ckpt = str(root / "sup" / "checkpoints" / "last.ckpt")
    base = ["viz", "attention", "--images", "digits", "--num", "2"]
    args = _parser().parse_args([*base, "--checkpoint", sup_ckpt, "--out", str(tmp_path / "one")])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "wrote 2 PNGs" in out and "supervised (sup): cls_attention, 2 map(s) on a 4x4 grid" in out
    single = sorted((tmp_path / "one").glob("*.png"))
    assert [p.name for p in single] == ["attention_000.png", "attention_001.png"]

    compare = ["--checkpoint", sup_ckpt, "--compare", str(mae.encoder_path), "--out", str(tmp_path / "two")]
    args = _parser().parse_args([*base, *compare])
    assert args.run(args) == 0
    assert "mae (mae)" in capsys.readouterr().out
    pair = sorted((tmp_path / "two").glob("*.png"))
    assert len(pair) == 2
    (w1, h1), (w2, h2) = Image.open(single[0]).size, Image.open(pair[0]).size
    assert w1 == w2 and h2 > 1.7 * h1  # two model rows in one PNG


def test_viz_attention_on_a_cnn_and_reconstruct_still_routes(runs, tmp_path) -> None:
    root, mae = runs
    cnn = pretrain(
        load_run_config(
            None,
            [
                "data.name=digits",
                "backbone_kwargs={width: 4, depths: [1, 1]}",
                "method.proj_hidden_dim=8",
                "method.proj_out_dim=4",
                "train.batch_size=32",
                "train.max_steps=1",
                "train.precision=32-true",
                "train.progress_bar=false",
                f"train.out_dir={root}",
                "train.run_name=cnn",
            ],
            method="simclr",
        )
    )
    args = _parser().parse_args(
        ["viz", "attention", "--checkpoint", str(cnn.encoder_path), "--images", "digits", "--num", "1"]
        + ["--out", str(tmp_path / "cnn")]
    )
    assert args.run(args) == 0
    assert len(list((tmp_path / "cnn").glob("*.png"))) == 1
    rec = _parser().parse_args(
        ["viz", "reconstruct", "--checkpoint", str(mae.run_dir / "checkpoints" / "last.ckpt")]
        + ["--images", "digits", "--num", "2", "--out", str(tmp_path / "r.png"), "--scale", "1"]
    )
    assert rec.run(rec) == 0 and (tmp_path / "r.png").is_file()
