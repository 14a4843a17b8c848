"""``selfsup export``: the whole --out name is kept, every written file is listed, no silent overwrite."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from selfsup.cli import export_cmd
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from tests.cli.test_viz_inputs import TINY as VIZ_TINY

TINY = ["data.name=digits", "data.image_size=12", *VIZ_TINY]


def _export(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    export_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    return args.run(args)


def test_export_keeps_the_name_lists_its_files_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    cfg = load_run_config(None, [*TINY, f"train.out_dir={tmp_path}", "train.run_name=run"], "simclr")
    ckpt = str(pretrain(cfg).run_dir / "checkpoints" / "last.ckpt")
    capsys.readouterr()
    out = tmp_path / "exports" / "name.v1.5"
    assert _export("--checkpoint", ckpt, "--out", str(out)) == 0
    written = sorted(out.parent.iterdir())
    assert [p.name for p in written] == ["name.v1.5.json", "name.v1.5.safetensors"]
    printed = capsys.readouterr().out
    assert "input 12 px, 1 channel(s), trained on digits" in printed
    assert all(f"  {p}\n" in printed for p in written)
    before = {p: p.stat().st_mtime_ns for p in written}
    with pytest.raises(ValueError, match="--force") as err:
        _export("--checkpoint", ckpt, "--out", str(out) + ".safetensors")
    assert str(written[0]) in str(err.value) and "\n" not in str(err.value)
    assert {p: p.stat().st_mtime_ns for p in written} == before  # nothing was touched
    with pytest.raises(
        ValueError, match="encoder.safetensors"
    ):  # the default: RUN/encoder, written by pretrain
        _export("--checkpoint", ckpt)
    assert _export("--checkpoint", ckpt, "--out", str(out), "--force") == 0
    assert sorted(out.parent.iterdir()) == written
