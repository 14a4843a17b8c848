"""Run directories: ranks that torchrun or SLURM start together must all pick the same one."""

import pytest

from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from selfsup.train.run_dir import new_run_dir

LAUNCHER_VARS = ("WORLD_SIZE", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID")


@pytest.fixture
def no_launcher(monkeypatch):
    for var in LAUNCHER_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _cfg(tmp_path, *extra):
    return load_run_config(None, ["data.name=digits", f"train.out_dir={tmp_path}", *extra], method="simclr")


def test_single_process_runs_get_a_fresh_directory_each(tmp_path, no_launcher):
    cfg = _cfg(tmp_path)
    first = new_run_dir(cfg)
    first.mkdir(parents=True)
    (first / "config.yaml").write_text("taken")
    assert new_run_dir(cfg) == first.with_name(first.name + "-1")


@pytest.mark.parametrize(("var", "value"), [("TORCHELASTIC_RUN_ID", "job7"), ("SLURM_JOB_ID", "4242")])
def test_launched_ranks_share_the_launch_id_directory(tmp_path, no_launcher, var, value):
    no_launcher.setenv("WORLD_SIZE" if var.startswith("TORCH") else "SLURM_NTASKS", "2")
    no_launcher.setenv(var, value)
    cfg = _cfg(tmp_path)
    rank0 = new_run_dir(cfg)
    assert rank0 == tmp_path / f"simclr-digits-{value}"
    rank0.mkdir(parents=True)
    (rank0 / "config.yaml").write_text("written by rank 0")
    assert new_run_dir(cfg) == rank0  # a later rank joins it instead of taking a "-1" suffix


def test_launched_ranks_without_a_shared_id_must_name_the_run(tmp_path, no_launcher):
    no_launcher.setenv("WORLD_SIZE", "2")
    no_launcher.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's default without --rdzv-id
    with pytest.raises(ValueError, match="train.run_name"):
        new_run_dir(_cfg(tmp_path))
    assert new_run_dir(_cfg(tmp_path, "train.run_name=mine")) == tmp_path / "mine"


def test_launched_ranks_refuse_a_time_budget(tmp_path, no_launcher):
    no_launcher.setenv("WORLD_SIZE", "2")
    cfg = _cfg(tmp_path, "train.run_name=r", "train.time_budget_minutes=1")
    with pytest.raises(ValueError, match="train.max_steps"):
        pretrain(cfg)
