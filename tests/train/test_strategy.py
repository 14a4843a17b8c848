"""``train.strategy`` -> Lightning strategy, and the device type the GPU-path options are resolved for."""

import pytest
import torch
from lightning.pytorch.strategies import ModelParallelStrategy

from selfsup.train.config_loader import load_run_config
from selfsup.train.strategy import build_strategy, device_type


def cfg(*overrides):
    return load_run_config(None, list(overrides), method="mae")


@pytest.mark.parametrize("name", ["auto", "ddp", "ddp_spawn"])
def test_other_strategies_pass_through_by_name(name):
    assert build_strategy(cfg(f"train.strategy={name}"), 2, "32-true") == name


@pytest.mark.parametrize("world", [1, 4])
def test_fsdp_is_a_data_parallel_mesh_over_all_ranks_with_full_checkpoints(world):
    strategy = build_strategy(cfg("train.strategy=fsdp"), world, "bf16-mixed")
    assert isinstance(strategy, ModelParallelStrategy)
    # FSDP shards over every rank (no tensor parallelism); checkpoints are single full files
    assert strategy._data_parallel_size == world and strategy._tensor_parallel_size == 1
    assert strategy._save_distributed_checkpoint is False


def test_fsdp_with_fp16_is_an_error_naming_bf16():
    with pytest.raises(ValueError, match="bf16-mixed"):
        build_strategy(cfg("train.strategy=fsdp"), 2, "16-mixed")


def test_fsdp_with_sync_batchnorm_is_an_error_not_silently_ignored():
    with pytest.raises(ValueError, match="train.sync_batchnorm=false"):
        build_strategy(cfg("train.strategy=fsdp", "train.sync_batchnorm=true"), 2, "32-true")


def test_device_type(monkeypatch):
    assert device_type(cfg("train.accelerator=cpu")) == "cpu"
    assert device_type(cfg("train.accelerator=gpu")) == "cuda"
    assert device_type(cfg("train.accelerator=cuda")) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_type(cfg("train.accelerator=auto")) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_type(cfg("train.accelerator=auto")) == "cpu"
