"""`selfsup eval finetune` and `eval label-efficiency --protocols finetune` run with their default drop path
on an exported CNN encoder (which has no stochastic depth) instead of stopping with an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfsup.backbones import create_backbone
from selfsup.cli.main import main
from selfsup.export import export_encoder


@pytest.fixture
def cnn_encoder(tmp_path: Path) -> Path:
    backbone = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    return export_encoder(
        backbone, tmp_path / "run" / "encoder", method="tiny", image_size=8, mean=[0.5], std=[0.5]
    )


def test_eval_finetune_with_default_drop_path_on_a_cnn(cnn_encoder: Path, capsys) -> None:
    args = ["eval", "finetune", "--encoder", str(cnn_encoder), "--data", "digits", "--epochs", "1",
            "--batch-size", "32", "--max-train", "64", "--max-test", "32"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "no stochastic depth" in out and "test top-1" in out and "drop path 0" in out
    # Fit on train minus its validation part; validation and test are both printed and named.
    assert "validation top-1" in out and "validation = 10 images carved from the train split" in out


def test_eval_finetune_follows_the_encoder_and_refuses_another_size(cnn_encoder: Path, capsys) -> None:
    (cnn_encoder.with_suffix(".json")).write_text(
        json.dumps(
            {
                **json.loads(cnn_encoder.with_suffix(".json").read_text()),
                "config": {"data": {"name": "digits"}},
            }
        )
    )
    args = ["eval", "finetune", "--encoder", str(cnn_encoder), "--epochs", "1", "--batch-size", "32",
            "--max-train", "64", "--max-test", "32"]  # fmt: skip
    assert main(args) == 0
    assert "on digits at 8 px" in capsys.readouterr().out
    assert main([*args, "--image-size", "16"]) == 2
    assert "trained at 8 px but --image-size 16" in capsys.readouterr().err


def test_eval_label_efficiency_finetune_protocol_on_a_cnn(cnn_encoder: Path) -> None:
    args = ["eval", "label-efficiency", "--encoder", str(cnn_encoder), "--data", "digits",
            "--fractions", "1.0", "--protocols", "finetune", "--finetune-steps", "2",
            "--max-train", "64", "--max-test", "32"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads((cnn_encoder.parent / "label_efficiency.json").read_text())
    assert [(r["encoder"], r["protocol"]) for r in rows] == [
        ("tiny", "finetune"),
        ("random init", "finetune"),
    ]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
