"""Resume means what it says: safe overrides extend the run, others are refused, damaged files are named."""

import json

import pytest
import torch
import yaml

from selfsup.cli.main import main
from selfsup.train.pretrain import pretrain
from selfsup.train.resume import SAFE_ON_RESUME
from tests.train.test_pretrain import TINY, tiny_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 4-step run (checkpoints at steps 2 and 4); tests copy it before changing it."""
    root = tmp_path_factory.mktemp("finished")
    pretrain(tiny_config(root, "train.max_steps=4", "train.checkpoint_every=2", "train.run_name=r"))
    return root / "r"


@pytest.fixture
def run(finished, tmp_path):
    import shutil

    shutil.copytree(finished, tmp_path / "r", ignore=shutil.ignore_patterns(".lock"))
    config = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    config["train"]["out_dir"] = str(tmp_path)
    (tmp_path / "r" / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "r"


def _resume(run, *overrides):
    return main(["pretrain", "--resume", str(run / "checkpoints" / "last.ckpt"), *overrides, "--no-eval"])


def test_a_larger_max_steps_trains_on_and_the_run_files_say_so(run, capsys):
    assert _resume(run, "train.max_steps=6") == 0
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 6
    assert json.loads((run / "derived.json").read_text())["total_steps"] == 6
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["max_steps"] == 6


def test_resuming_a_finished_run_unchanged_is_refused_not_a_silent_success(run, capsys):
    assert _resume(run) == 2
    err = capsys.readouterr().err
    assert "has already trained 4 of the run's 4 steps" in err and "train.max_steps=8" in err


@pytest.mark.parametrize("override", ["optim.lr=0.1", "train.batch_size=16", "data.name=fashion_mnist"])
def test_overrides_that_would_change_the_run_are_refused(run, capsys, override):
    assert _resume(run, "train.max_steps=6", override) == 2
    err = capsys.readouterr().err.strip()
    key = override.split("=")[0]
    assert err.count("\n") == 0 and f"with {key} changed" in err and ", ".join(SAFE_ON_RESUME) in err


def test_a_damaged_checkpoint_names_itself_and_an_earlier_one(run, capsys):
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])
    assert _resume(run, "train.max_steps=6") == 2
    err = capsys.readouterr().err
    assert f"checkpoint {last} is damaged or not a checkpoint" in err and "Traceback" not in err
    assert f"--resume {run / 'checkpoints' / 'step-0000004.ckpt'}" in err


def test_a_checkpoint_outside_a_run_directory_needs_the_run_named(run, tmp_path, capsys):
    loose = tmp_path / "elsewhere" / "sub" / "copy.ckpt"
    loose.parent.mkdir(parents=True)
    loose.write_bytes((run / "checkpoints" / "step-0000002.ckpt").read_bytes())
    assert main(["pretrain", "--resume", str(loose), "--no-eval"]) == 2
    err = capsys.readouterr().err
    assert "not inside a run directory" in err and "--run-dir RUN" in err
    assert (
        not (tmp_path / "elsewhere" / "config.yaml").exists()
        and not (tmp_path / "elsewhere" / "logs").exists()
    )
    code = main(["pretrain", "--resume", str(loose), "--run-dir", str(run), "train.max_steps=4", "--no-eval"])
    assert code == 0
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 4


def test_tiny_config_is_the_one_the_run_recorded(finished):
    # The fixture's run was made from these settings: a guard against a silently different baseline.
    assert yaml.safe_load((finished / "config.yaml").read_text())["train"]["batch_size"] == 32
    assert "train.batch_size=32" in TINY
