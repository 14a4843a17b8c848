"""The evaluation protocol from the command line: validation and test columns, held-out test splits
of unsplit folders, and evaluations that follow the encoder's recorded input."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.cli.main import main
from selfsup.export import export_encoder
from selfsup.types import InputSpec


def _export(tmp_path, name, channels, size, dataset, root=None):
    torch.manual_seed(0)
    encoder = create_backbone(
        "resnet_small", in_chans=channels, image_size=size, width=4, depths=[1, 1, 1, 1]
    )
    spec = InputSpec(size, channels, (0.5,) * channels, (0.5,) * channels, dataset, root)
    return str(export_encoder(encoder, tmp_path / name, method="simclr", input=spec.to_dict()))


def _row(out: str, name: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_random_labels_in_an_unsplit_folder_score_chance_not_memorization(tmp_path, capsys):
    """Noise images with arbitrary class folders: a probe fit on them reaches ~100 % on the same images;
    the held-out test split must show chance (1/3), never that memorization as a test result."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "noise"
    for cls in ("a", "b", "c"):
        (folder / cls).mkdir(parents=True)
        for i in range(50):
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / cls / f"{i}.png")
    encoder = _export(tmp_path, "enc", 3, 16, "folder", str(folder))
    assert main(["eval", "linear", "--encoder", encoder]) == 0
    out = capsys.readouterr().out
    assert "held out as test" in out and "30 images" in out  # 20 % of 150, named as the test's source
    knn_val, linear_val, knn_test, linear_test = (float(c) for c in _row(out, "simclr")[1:5])
    assert linear_test < 70.0 and knn_test < 70.0  # chance is 33 %; memorization would print ~100


def test_eval_follows_the_encoder_and_refuses_a_contradicting_size(tmp_path, capsys):
    encoder = _export(tmp_path, "enc", 1, 8, "digits")
    assert main(["eval", "knn", "--encoder", encoder, "--max-train", "400", "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert "on digits at 8 px" in out  # no --data: the dataset the encoder was trained on
    assert re.search(r"validation = 40 images carved from the train split", out)

    assert main(["eval", "knn", "--encoder", encoder, "--image-size", "16"]) == 2
    err = capsys.readouterr().err
    assert "trained at 8 px but --image-size 16" in err and "--allow-input-mismatch" in err
    assert "Traceback" not in err
    args = ["eval", "knn", "--encoder", encoder, "--image-size", "16", "--allow-input-mismatch"]
    assert main([*args, "--max-train", "400", "--no-baselines"]) == 0
    assert "at 16 px" in capsys.readouterr().out


def test_a_grayscale_dataset_for_a_colour_encoder_is_refused_unless_deliberate(tmp_path, capsys):
    encoder = _export(tmp_path, "rgb", 3, 8, "stamps")
    assert main(["eval", "knn", "--encoder", encoder, "--data", "digits"]) == 2
    err = capsys.readouterr().err
    assert "takes 3-channel images but dataset 'digits' has 1 channel(s)" in err
    args = ["eval", "knn", "--encoder", encoder, "--data", "digits", "--allow-input-mismatch"]
    assert main([*args, "--max-train", "300", "--no-baselines"]) == 0
    assert "transfer: trained on 'stamps', evaluated on 'digits'" in capsys.readouterr().out


def test_an_export_without_an_input_record_still_evaluates(tmp_path, capsys):
    """Exports written before the InputSpec record: image_size / mean / std / in_chans are read instead."""
    encoder = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
    config = {"data": {"name": "digits", "root": None}}
    path = export_encoder(
        encoder, tmp_path / "old", method="simclr", image_size=8, mean=[0.5], std=[0.5], config=config
    )
    assert main(["eval", "knn", "--encoder", str(path), "--max-train", "300", "--no-baselines"]) == 0
    assert "on digits at 8 px" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["[1, 2]", "{broken"])
def test_an_unreadable_encoder_json_is_one_line(tmp_path, capsys, bad):
    encoder = _export(tmp_path, "enc", 1, 8, "digits")
    (tmp_path / "enc.json").write_text(bad)
    assert main(["eval", "knn", "--encoder", encoder]) == 2
    err = capsys.readouterr().err
    assert "enc.json" in err and "Traceback" not in err
