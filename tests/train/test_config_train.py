"""``TrainConfig`` validation of the sharding options: ``train.activation_checkpointing`` belongs to fsdp."""

import pytest

from selfsup.train.config import TrainConfig
from selfsup.train.config_loader import load_run_config


def test_activation_checkpointing_defaults_off_and_is_accepted_with_fsdp():
    assert TrainConfig().activation_checkpointing is False
    cfg = load_run_config(None, ["train.strategy=fsdp", "train.activation_checkpointing=true"], method="mae")
    assert cfg.train.activation_checkpointing is True and cfg.train.strategy == "fsdp"


@pytest.mark.parametrize("strategy", ["auto", "ddp", "ddp_spawn"])
def test_activation_checkpointing_without_fsdp_is_an_error_naming_the_fix(strategy):
    with pytest.raises(ValueError, match="train.strategy=fsdp") as info:
        load_run_config(
            None, [f"train.strategy={strategy}", "train.activation_checkpointing=true"], method="mae"
        )
    assert "train.activation_checkpointing=false" in str(info.value) and repr(strategy) in str(info.value)


def test_activation_checkpointing_must_be_a_bool():
    with pytest.raises(ValueError, match="activation_checkpointing"):
        load_run_config(None, ["train.strategy=fsdp", "train.activation_checkpointing=3"], method="mae")
    with pytest.raises(ValueError, match="must be true or false"):
        TrainConfig(strategy="fsdp", activation_checkpointing="yes").validate()
