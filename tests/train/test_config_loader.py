"""Strict config loading: unknown keys, wrong types, invalid values, overrides and round trip."""

import pytest
import yaml

from selfsup.train.config_loader import (
    ConfigError,
    config_to_dict,
    load_run_config,
    parse_overrides,
    run_config_from_dict,
)


def test_defaults_and_overrides():
    cfg = load_run_config(None, ["optim.lr=0.5", "train.epochs=2", "method.temperature=0.2"], method="simclr")
    assert cfg.method_name == "simclr"
    assert cfg.optim.lr == 0.5 and cfg.train.epochs == 2.0 and cfg.method.temperature == 0.2
    assert cfg.method.views.crop_scale == (0.08, 1.0)
    # YAML 1.1 reads 1e-3 (no dot) as a string; a float field still accepts it.
    assert load_run_config(None, ["optim.lr=1e-3"], method="simclr").optim.lr == 0.001
    with pytest.raises(ConfigError, match="expected a number"):
        load_run_config(None, ["optim.lr=fast"], method="simclr")


def test_unknown_key_names_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key optim\.lrr.*did you mean optim\.lr"):
        load_run_config(None, ["optim.lrr=0.1"], method="simclr")
    with pytest.raises(ConfigError, match=r"unknown config key method\.temprature"):
        load_run_config(None, ["method.temprature=0.1"], method="simclr")
    with pytest.raises(ConfigError, match="valid keys: .*train.batch_size"):
        load_run_config(None, ["train.bs=3"], method="simclr")


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"method": {"name": "simclr"}, "data": {"nmae": "digits"}}))
    with pytest.raises(ConfigError, match=r"data\.nmae"):
        load_run_config(path)


@pytest.mark.parametrize(
    "override, message",
    [
        ("method.temperature=0", "temperature must be > 0"),
        ("method.temperature=-1", "temperature must be > 0"),
        ("train.batch_size=0", "batch_size must be >= 1"),
        ("train.batch_size=abc", "expected an integer"),
        ("optim.name=adam", "optim.name must be one of"),
        ("train.precision=fp8", "train.precision must be one of"),
        ("method.views.flip_p=1.5", "flip_p"),
        ("optim.lr=0", "optim.lr must be > 0"),
    ],
)
def test_invalid_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(None, [override], method="simclr")


def test_unknown_method_lists_available():
    with pytest.raises(ConfigError, match="available methods: .*simclr"):
        load_run_config(None, [], method="simclrr")


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["optim.lr"])
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "d=null"]) == {"a": {"b": 1, "c": [1, 2]}, "d": None}


def test_method_mismatch_between_file_and_command(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method:\n  name: simclr\n")
    with pytest.raises(ConfigError, match="asks for method"):
        load_run_config(path, method="other")


def test_round_trip_through_yaml(tmp_path):
    cfg = load_run_config(None, ["optim.lr=0.7", "method.views.crop_scale=[0.2, 1.0]"], method="simclr")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    again = load_run_config(path)
    assert again == cfg
    assert run_config_from_dict(config_to_dict(cfg)) == cfg


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
    assert configs, "configs/ should ship example configs"
    for path in configs:
        load_run_config(path)
