"""Shipped configs by name: ``--config simclr_fashion_mnist`` from any directory, ``selfsup configs``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from selfsup.cli import configs_cmd
from selfsup.configs import CONFIG_DIR, config_summary, resolve_config, shipped_config, shipped_configs
from selfsup.train.config_loader import load_run_config


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    configs_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["configs", *argv])
    return args.run(args)


def test_a_bare_name_is_the_shipped_config_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = CONFIG_DIR / "simclr_fashion_mnist.yaml"
    assert resolve_config("simclr_fashion_mnist") == resolve_config("simclr_fashion_mnist.yaml") == shipped
    assert load_run_config("simclr_fashion_mnist") == load_run_config(shipped)
    (tmp_path / "simclr_fashion_mnist.yaml").write_text("train: {epochs: 3}\n")  # a file here wins
    assert resolve_config("simclr_fashion_mnist.yaml") == Path("simclr_fashion_mnist.yaml")
    assert resolve_config("sub/simclr_fashion_mnist") == Path("sub/simclr_fashion_mnist")  # a path stays one
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_run_config("sub/simclr_fashion_mnist.yaml")


def test_an_unknown_name_is_one_line_listing_the_shipped_names(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        load_run_config("simclr_fashion")
    message = str(err.value)
    assert "\n" not in message and "'simclr_fashion'" in message
    assert all(name in message for name in shipped_configs())
    with pytest.raises(FileNotFoundError, match="mae_fashion_mnist"):
        shipped_config("nope.yaml")


def test_configs_list_show_copy(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run() == 0 and _run("list") == 0
    listing = capsys.readouterr().out.splitlines()
    rotation = next(line for line in listing if line.startswith("rotation_fashion_mnist "))
    assert rotation.endswith(config_summary(CONFIG_DIR / "rotation_fashion_mnist.yaml"))
    assert config_summary(CONFIG_DIR / "rotation_fashion_mnist.yaml").startswith("RotNet")
    half = len(listing) // 2
    assert listing[:half] == listing[half:]  # `selfsup configs` is `selfsup configs list`
    assert [line.split(" ", 1)[0] for line in listing[: half - 1]] == list(shipped_configs())
    assert _run("show", "mae_fashion_mnist") == 0
    assert capsys.readouterr().out == (CONFIG_DIR / "mae_fashion_mnist.yaml").read_text()
    assert _run("copy", "mae_fashion_mnist.yaml") == 0
    copied = tmp_path / "mae_fashion_mnist.yaml"
    assert copied.read_text() == (CONFIG_DIR / "mae_fashion_mnist.yaml").read_text()
    assert "selfsup pretrain mae --config mae_fashion_mnist.yaml" in capsys.readouterr().out
    copied.write_text("# mine\n")
    with pytest.raises(ValueError, match="--force"):
        _run("copy", "mae_fashion_mnist")
    assert copied.read_text() == "# mine\n"
    assert _run("copy", "mae_fashion_mnist", "--force") == 0 and copied.read_text().startswith("# MAE")
    (tmp_path / "mine").mkdir()
    assert (
        _run("copy", "dino_fashion_mnist", "mine") == 0
        and (tmp_path / "mine/dino_fashion_mnist.yaml").is_file()
    )
    assert _run("copy", "dino_fashion_mnist", "new/dino.yaml") == 0 and (tmp_path / "new/dino.yaml").is_file()
