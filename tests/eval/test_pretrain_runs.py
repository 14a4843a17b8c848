"""``compare`` and ``findings`` reuse a finished run only when it trained what is asked now, and continue
an interrupted one from its last checkpoint only when it trains exactly that."""

import json
from pathlib import Path

import pytest
import torch

from selfsup.eval.pretrain_runs import (
    TRAINED_WITH,
    StaleRun,
    finished_run_matches,
    pretrain_in_subprocess,
    pretrain_overrides,
    resumable_checkpoint,
    run_identity,
)
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from tests.train.test_pretrain import TINY, StopAt


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
    assert not finished_run_matches(half, asked)  # no encoder yet: not finished (resumed or retrained)


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


TINY_RUN = [*TINY, "train.max_steps=4", "train.checkpoint_every=2", "train.seed=0"]


def _interrupted_run(tmp_path: Path, config: Path) -> Path:
    """A run that ``pretrain_in_subprocess`` started and a crash stopped before step 3 (checkpoint at 2)."""
    run_dir = tmp_path / "runs" / "simclr-s0"
    cfg = load_run_config(str(config), pretrain_overrides(run_dir, TINY_RUN), method="simclr")
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain(cfg, callbacks=[StopAt(3)])
    assert not (run_dir / "encoder.safetensors").exists()
    return run_dir


def _step(checkpoint: Path) -> int:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]


def test_an_interrupted_run_continues_from_its_last_checkpoint(tmp_path: Path, config: Path) -> None:
    run_dir = _interrupted_run(tmp_path, config)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert resumable_checkpoint("simclr", config, run_dir, TINY_RUN) == last and _step(last) == 2
    step_2 = run_dir / "checkpoints" / "step-0000002.ckpt"
    written_at = step_2.stat().st_mtime_ns
    log = tmp_path / "runs" / "simclr-s0.log"
    ok, error = pretrain_in_subprocess("simclr", config, run_dir, TINY_RUN, log, resume_from=last)
    assert ok, error
    assert "resuming from" in log.read_text() and "again from step 0" not in log.read_text()
    assert _step(last) == 4
    assert step_2.stat().st_mtime_ns == written_at  # the steps before the crash were not trained again
    assert (run_dir / "logs" / "version_0").is_dir() and (run_dir / "logs" / "version_1").is_dir()
    assert finished_run_matches(run_dir, run_identity("simclr", config, TINY_RUN))


def test_a_half_finished_run_of_other_settings_or_without_a_checkpoint_is_not_resumed(
    tmp_path: Path, config: Path
) -> None:
    run_dir = _interrupted_run(tmp_path, config)
    other_seed = [*TINY_RUN[:-1], "train.seed=1"]
    assert resumable_checkpoint("simclr", config, run_dir, other_seed) is None
    assert resumable_checkpoint("simclr", config, run_dir, [*TINY_RUN, "optim.lr=0.1"]) is None
    config.write_text("method: {name: simclr, temperature: 0.2}\n")  # the config file's values changed
    assert resumable_checkpoint("simclr", config, run_dir, TINY_RUN) is None
    config.write_text("method: {name: simclr}\n")
    (run_dir / "config.yaml").write_text("train: [not, a, mapping\n")  # cut short by the crash
    assert resumable_checkpoint("simclr", config, run_dir, TINY_RUN) is None
    assert resumable_checkpoint("simclr", config, tmp_path / "runs" / "never-started", TINY_RUN) is None


def test_a_failed_resume_trains_the_run_again_from_step_0(tmp_path: Path, config: Path) -> None:
    run_dir = _interrupted_run(tmp_path, config)
    last = resumable_checkpoint("simclr", config, run_dir, TINY_RUN)
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])  # damaged after it was found
    log = tmp_path / "runs" / "simclr-s0.log"
    ok, error = pretrain_in_subprocess("simclr", config, run_dir, TINY_RUN, log, resume_from=last)
    assert ok, error
    text = log.read_text()
    assert (
        "is damaged or not a checkpoint" in text
        and "the resume failed (above); training this run again" in text
    )
    assert _step(last) == 4 and not (run_dir / "logs" / "version_1").exists()  # one fresh run of 4 steps
