"""`selfsup eval label-efficiency` and `selfsup eval quality` on a tiny exported encoder (digits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfsup.backbones import create_backbone
from selfsup.cli.main import main
from selfsup.export import export_encoder


@pytest.fixture
def encoder_path(tmp_path: Path) -> Path:
    backbone = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    return export_encoder(
        backbone, tmp_path / "run" / "encoder", method="tiny", image_size=8, mean=[0.5], std=[0.5]
    )


def test_label_efficiency_command_writes_rows_and_plot(encoder_path: Path, capsys) -> None:
    args = ["eval", "label-efficiency", "--encoder", str(encoder_path), "--data", "digits",
            "--fractions", "0.1", "1.0", "--protocols", "linear"]  # fmt: skip
    assert main(args) == 0
    run = encoder_path.parent
    rows = json.loads((run / "label_efficiency.json").read_text())
    assert [(r["encoder"], r["fraction"]) for r in rows] == [
        ("tiny", 0.1), ("random init", 0.1), ("tiny", 1.0), ("random init", 1.0)
    ]  # fmt: skip
    assert rows[2]["num_labels"] > 5 * rows[0]["num_labels"]
    assert all(0.0 < r["accuracy"] <= 1.0 for r in rows)
    assert (run / "viz" / "label_efficiency.png").stat().st_size > 1000
    assert "| tiny | linear |" in capsys.readouterr().out


def test_quality_command_writes_signals(encoder_path: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "eval",
                "quality",
                "--encoder",
                str(encoder_path),
                "--data",
                "digits",
                "--out",
                str(tmp_path / "q"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert result["items"] > 100 and set(result["encoder"]) == {"rankme", "uniformity", "embedding_std"}
    assert 1.0 <= result["encoder"]["rankme"] <= 32.0  # at most the feature width
