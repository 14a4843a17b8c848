"""Values that make no sense are refused at load time, in one line naming the key (issue 17, points 3, 6)."""

import re

import pytest

from selfsup.cli.main import main
from selfsup.train.config_loader import ConfigError, load_run_config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.min_lr=-0.1", "optim.min_lr must be >= 0"),
        ("optim.lr=.nan", "optim.lr must be a finite number"),
        ("optim.lr=.inf", "optim.lr must be a finite number"),
        ("optim.weight_decay=.nan", "optim.weight_decay must be a finite number"),
        ("optim.momentum=.nan", "optim.momentum must be a finite number"),
        ("optim.momentum=1.5", "optim.momentum must be in [0, 1)"),
        ("optim.warmup_epochs=.inf", "optim.warmup_epochs must be a finite number"),
        ("optim.betas=[0.9, .nan]", "optim.betas must be a finite number"),
        ("train.devices=0", "train.devices must be >= 1"),
        ("train.devices=-3", "train.devices must be >= 1"),
        ("train.accelerator=tpuu", "train.accelerator must be one of auto, cpu, gpu"),
        ("train.epochs=1e12", "train.epochs must be <= 1000000"),
        ("train.epochs=.inf", "train.epochs must be a finite number"),
        ("data.image_size=100000", "data.image_size must be between 8 and 4096"),
        ("method.temperature=.nan", "method.temperature must be a finite number"),
        ("optim.lr=[1,", "override 'optim.lr=[1,': the value is not valid YAML"),
    ],
)
def test_nonsense_values_are_refused_naming_the_key(override, message, capsys):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_run_config(None, [override], method="simclr")
    assert main(["pretrain", "simclr", override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  lr: 0.1\n  name: [sgd\ntrain:\n  epochs: 1\n")
    assert main(["pretrain", "simclr", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path} is not valid YAML" in err and "line" in err


def test_a_non_utf8_config_is_named(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("optim:\n  name: sgd # café\n".encode("latin-1"))
    assert main(["pretrain", "simclr", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path} is not UTF-8 text" in err
