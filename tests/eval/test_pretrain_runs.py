"""``compare`` and ``findings`` reuse a finished run only when it trained what is asked now."""

import json
from pathlib import Path

import pytest

from selfsup.eval.pretrain_runs import TRAINED_WITH, StaleRun, finished_run_matches, run_identity


def _finished(tmp_path: Path, record: dict | None) -> Path:
    run = tmp_path / "runs" / "simclr"
    run.mkdir(parents=True)
    (run / "encoder.safetensors").write_bytes(b"weights")
    if record is not None:
        (run / TRAINED_WITH).write_text(json.dumps(record))
    return run


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "simclr.yaml"
    path.write_text("method: {name: simclr}\n")
    return path


def test_a_run_of_the_same_settings_is_reused_and_no_run_is_not(tmp_path: Path, config: Path) -> None:
    asked = run_identity("simclr", config, ["train.max_steps=10", "train.seed=0"])
    assert finished_run_matches(_finished(tmp_path, asked), asked)
    assert not finished_run_matches(tmp_path / "runs" / "other", asked)  # nothing there: train it
    half = tmp_path / "runs" / "half"
    half.mkdir()
    (half / TRAINED_WITH).write_text(json.dumps(asked))
    assert not finished_run_matches(half, asked)  # no encoder yet: a half-finished run is trained again


def test_a_run_of_another_budget_is_refused_naming_the_run_both_values_and_the_fix(
    tmp_path: Path, config: Path
) -> None:
    old = run_identity("simclr", config, ["train.time_budget_minutes=4.0", "train.seed=0"])
    run = _finished(tmp_path, old)
    asked = run_identity("simclr", config, ["train.time_budget_minutes=10.0", "train.seed=0"])
    with pytest.raises(StaleRun) as err:
        finished_run_matches(run, asked)
    message = str(err.value)
    assert str(run) in message and "--retrain" in message and "another --out" in message
    assert "train.time_budget_minutes=4.0" in message and "train.time_budget_minutes=10.0" in message


def test_an_edited_config_or_a_run_without_a_record_is_refused(tmp_path: Path, config: Path) -> None:
    overrides = ["train.seed=0"]
    run = _finished(tmp_path, run_identity("simclr", config, overrides))
    config.write_text("# a comment\nmethod:\n  name: simclr\n")  # the same values: still the same run
    assert finished_run_matches(run, run_identity("simclr", config, overrides))
    config.write_text("method: {name: simclr, temperature: 0.2}\n")  # the same file name, other values
    with pytest.raises(StaleRun, match="the config file.s values have changed"):
        finished_run_matches(run, run_identity("simclr", config, overrides))
    (run / TRAINED_WITH).unlink()
    with pytest.raises(StaleRun, match="predates this record"):
        finished_run_matches(run, run_identity("simclr", config, overrides))
