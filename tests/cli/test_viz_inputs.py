"""``selfsup viz`` and ``selfsup export`` follow the run's recorded input.

The images default to the test split of the run's own training dataset at its training size; a
grayscale dataset for a colour model is an error naming both unless ``--allow-input-mismatch``;
loading a checkpoint reads the recorded ``InputSpec`` instead of building the training dataset,
which only runs that predate the record still do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from real_photos import photos

import selfsup.data
from selfsup.cli.main import main
from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.export import load_encoder, read_metadata
from selfsup.runs import export_from_checkpoint, input_spec_of, load_run
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from selfsup.viz.encoder_source import load_viz_encoder
from selfsup.viz.image_source import load_images

TINY = [
    "backbone=resnet_small",
    "backbone_kwargs={width: 4, depths: [1, 1]}",
    "method.proj_hidden_dim=8",
    "method.proj_out_dim=4",
    "train.batch_size=16",
    "train.max_steps=1",
    "train.precision=32-true",
    "train.progress_bar=false",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints of two one-step SimCLR runs: grayscale digits at 12 px, colour photos at 16 px."""
    root = tmp_path_factory.mktemp("viz-inputs")
    folder = root / "photos"
    for i, img in enumerate(photos(24, 16)):  # two classes, so the folder has a held-out test split
        (folder / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"c{i % 2}" / f"{i}.png")
    out = {}
    for name, data in (
        ("gray", ["data.name=digits", "data.image_size=12"]),
        ("colour", ["data.name=folder", f"data.root={folder}", "data.image_size=16"]),
    ):
        cfg = load_run_config(
            None, [*TINY, *data, f"train.out_dir={root}", f"train.run_name={name}"], "simclr"
        )
        out[name] = pretrain(cfg).run_dir / "checkpoints" / "last.ckpt"
    return out


def test_viz_help_exits_cleanly(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["viz", "--help"])
    assert exit_info.value.code == 0 and "60%-mass masks" in capsys.readouterr().out


def test_images_default_to_the_runs_own_test_split_at_its_size(runs) -> None:
    spec = input_spec_of(runs["gray"])
    source = load_images(None, 3, spec)
    digits, _ = dataset_to_tensors(create_dataset("digits", "test", image_size=12))
    assert source.dataset == "digits" and torch.equal(source.images, digits[:3])
    colour = load_images(None, 2, input_spec_of(runs["colour"]))
    assert colour.dataset == "folder" and tuple(colour.images.shape) == (2, 3, 16, 16)


def test_viz_attention_draws_on_the_runs_dataset_by_default(runs, tmp_path, capsys) -> None:
    argv = ["viz", "attention", "--checkpoint", str(runs["gray"]), "--num", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "images: the first 2 test images of digits" in out
    assert len(list(tmp_path.glob("attention_*.png"))) == 2


def test_a_grayscale_dataset_for_a_colour_model_needs_the_flag(runs, tmp_path, capsys) -> None:
    argv = ["viz", "attention", "--checkpoint", str(runs["colour"]), "--images", "digits", "--num", "2"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "takes 3-channel images but dataset 'digits' has 1 channel(s)" in err
    assert "trained on 'folder'" in err and "--allow-input-mismatch" in err
    assert main([*argv, "--out", str(tmp_path / "b"), "--allow-input-mismatch"]) == 0
    assert len(list((tmp_path / "b").glob("attention_*.png"))) == 2


def test_load_run_reads_a_run_directory_its_checkpoint_and_its_export_alike(runs, capsys) -> None:
    checkpoint = runs["colour"]
    run_dir, export = checkpoint.parent.parent, checkpoint.parent.parent / "encoder.safetensors"
    loaded = [load_run(path) for path in (run_dir, checkpoint, export)]
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        features = [run.encoder(images) for run in loaded]
    assert all(torch.allclose(features[0], f, atol=1e-6) for f in features[1:])
    assert all(run.spec == loaded[0].spec for run in loaded) and loaded[0].spec.image_size == 16
    assert [run.method is not None for run in loaded] == [True, True, False]
    assert all(run.run_dir.resolve() == run_dir.resolve() for run in loaded)
    assert loaded[0].label == loaded[2].label == "simclr (colour)"
    with pytest.raises(ValueError, match="is an exported encoder .*RUN/checkpoints/last.ckpt"):
        load_run(export, need_method=True)
    with pytest.raises(ValueError, match="is a 'simclr' run; this needs a 'mae' run"):
        load_run(checkpoint, "mae")
    with pytest.raises(ValueError, match="is a 'simclr' encoder; this needs a 'mae' run"):
        load_run(export, "mae")
    with pytest.raises(
        FileNotFoundError, match="holds neither checkpoints/last.ckpt nor encoder.safetensors"
    ):
        load_run(checkpoint.parent)
    # Every eval command takes the run directory as well as its export.
    argv = ["eval", "knn", "--max-train", "16", "--max-test", "8", "--no-baselines", "--encoder"]
    assert main([*argv, str(run_dir)]) == 0
    by_dir = capsys.readouterr().out.splitlines()[-3:]
    assert main([*argv, str(export)]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == by_dir


def _no_dataset(*args, **kwargs):
    raise AssertionError("the training dataset was built although the run records its input")


def test_checkpoints_load_from_the_record_without_building_the_dataset(
    runs, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(selfsup.data, "create_dataset", _no_dataset)
    model = load_viz_encoder(runs["colour"])
    assert (model.image_size, model.spec.channels, model.spec.dataset) == (16, 3, "folder")
    exported = export_from_checkpoint(runs["colour"], tmp_path / "enc")
    meta = read_metadata(exported)
    assert meta["image_size"] == 16 and meta["input"] == input_spec_of(runs["colour"]).to_dict()
    assert main(["export", "--checkpoint", str(runs["colour"]), "--out", str(tmp_path / "cli")]) == 0
    assert "input 16 px, 3 channel(s), trained on folder" in capsys.readouterr().out


def test_runs_without_the_record_still_load_from_their_dataset(runs, tmp_path) -> None:
    ckpt = runs["gray"]
    derived_path = ckpt.parent.parent / "derived.json"
    recorded = derived_path.read_text()
    encoder_json = ckpt.parent.parent / "encoder.json"
    hidden = encoder_json.with_suffix(".json.hidden")
    derived = json.loads(recorded)
    derived.pop("input")
    derived_path.write_text(json.dumps(derived))
    encoder_json.rename(hidden)
    try:
        old = export_from_checkpoint(ckpt, tmp_path / "old")
    finally:
        derived_path.write_text(recorded)
        hidden.rename(encoder_json)
    new = export_from_checkpoint(ckpt, tmp_path / "new")
    assert read_metadata(old)["input"] == read_metadata(new)["input"]
    x = torch.randn(2, 1, 12, 12)
    torch.testing.assert_close(load_encoder(old)(x), load_encoder(new)(x))
