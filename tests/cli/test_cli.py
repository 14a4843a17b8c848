"""The command line: help, list, clear one-line errors, a 2-process DDP run on CPU (gloo)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from selfsup.cli.main import main

TINY = [
    "data.name=digits",
    "backbone_kwargs={width: 4, depths: [1, 1, 1, 1]}",
    "method.proj_hidden_dim=16",
    "method.proj_out_dim=8",
    "train.batch_size=32",
    "train.precision=32-true",
    "train.progress_bar=false",
]


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "selfsup pretrain simclr" in out and "selfsup eval knn" in out


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "simclr" in out and "fashion_mnist" in out and "resnet_small" in out


def test_unknown_config_key_is_one_clear_line(capsys):
    assert main(["pretrain", "simclr", "optim.lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key optim.lrr" in err and "Traceback" not in err


def test_invalid_temperature(capsys):
    assert main(["pretrain", "simclr", "method.temperature=0"]) == 2
    assert "method.temperature must be > 0" in capsys.readouterr().err


def test_missing_dataset_says_how_to_get_it(capsys, tmp_path):
    assert main(["pretrain", "simclr", f"data.root={tmp_path / 'nowhere'}"]) == 2
    err = capsys.readouterr().err
    assert "dataset-fashion-mnist" in err


def test_batch_too_large_for_data(capsys, tmp_path):
    code = main(["pretrain", "simclr", *TINY, "train.batch_size=4096", f"train.out_dir={tmp_path}"])
    assert code == 2
    assert "lower train.batch_size" in capsys.readouterr().err


def test_batch_too_small_for_negatives(capsys, tmp_path):
    assert main(["pretrain", "simclr", *TINY, "train.batch_size=1", f"train.out_dir={tmp_path}"]) == 2
    assert "needs at least 2 images per batch" in capsys.readouterr().err


def test_pretrain_then_eval_and_export(tmp_path, capsys):
    code = main(
        [
            "pretrain",
            "simclr",
            *TINY,
            "train.max_steps=5",
            f"train.out_dir={tmp_path}",
            "train.run_name=cli",
            "eval.linear=false",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| raw pixels |" in out and "| random init |" in out and "| simclr |" in out
    run = tmp_path / "cli"
    fit_minutes = json.loads((run / "train_stats.json").read_text())["fit_seconds"] / 60
    assert "after 5 steps (" in out and f"{fit_minutes:.1f} min training, " in out  # the fit, then all
    assert (run / "results.json").is_file()
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(run / "checkpoints" / "last.ckpt"),
                "--out",
                str(tmp_path / "exported"),
            ]
        )
        == 0
    )
    from safetensors.torch import load_file

    x, y = load_file(str(run / "encoder.safetensors")), load_file(str(tmp_path / "exported.safetensors"))
    assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    assert main(["eval", "knn", "--encoder", str(tmp_path / "exported"), "--data", "digits"]) == 0
    assert "| simclr |" in capsys.readouterr().out


@pytest.mark.multiprocess
@pytest.mark.slow
def test_with_supervised_adds_the_same_backbone_trained_on_all_labels_to_the_table(tmp_path, capsys):
    argv = ["pretrain", "simclr", *TINY, "train.max_steps=4", f"train.out_dir={tmp_path}", "train.run_name=r"]
    assert main([*argv, "optim.lr=0.1", "--with-supervised"]) == 0
    out = capsys.readouterr().out
    assert (
        "| simclr |" in out and "| supervised (all labels, same budget) |" in out and "| raw pixels |" in out
    )
    assert "not held out: the validation columns of supervised (all labels, same budget)" in out
    rows = {r["name"]: r for r in json.loads((tmp_path / "r" / "results.json").read_text())}
    assert rows["supervised (all labels, same budget)"]["knn_val"] is not None
    twin = tmp_path / "r-supervised"
    config = (twin / "config.yaml").read_text()
    # the same backbone, data, batch, length and optimizer; the shipped supervised augmentation
    assert "name: supervised" in config and "width: 4" in config and "max_steps: 4" in config
    assert "lr: 0.1" in config and "crop_scale:\n  - 0.8" in config
    assert json.loads((twin / "classifier.json").read_text())["steps"] == 4


def test_two_process_ddp_run_trains_and_checkpoints(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "selfsup.cli.main",
        "pretrain",
        "simclr",
        *TINY,
        "train.max_steps=4",
        "train.checkpoint_every=2",
        "train.devices=2",
        "train.strategy=ddp",
        "train.accelerator=cpu",
        f"train.out_dir={tmp_path}",
        "train.run_name=ddp",
        "--no-eval",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "ddp"
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 4
    assert (run / "checkpoints" / "step-0000002.ckpt").is_file()
    assert (run / "encoder.safetensors").is_file()
    import json

    assert json.loads((run / "derived.json").read_text())["global_batch"] == 64


def test_a_supervised_run_says_its_validation_columns_are_not_held_out(tmp_path, capsys):
    argv = ["pretrain", "supervised", *TINY[:2], *TINY[4:], "backbone=resnet_small", "train.max_steps=2"]
    assert (
        main([*argv, f"train.out_dir={tmp_path}", "eval.max_train_items=200", "eval.max_test_items=50"]) == 0
    )
    assert "not held out: the validation columns of supervised" in capsys.readouterr().out
