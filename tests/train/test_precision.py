"""`train.precision=auto` on a native-bf16 CPU: decided by timing the run's own step, cached, printed."""

import json
import logging

import pytest
import torch

from selfsup.train import precision as prec
from selfsup.train.build import build_method
from selfsup.train.calibrate import time_precisions
from selfsup.train.config import derive
from selfsup.train.pretrain import pretrain
from selfsup.train.run_dir import load_derived
from tests.train.test_pretrain import tiny_config

SIGNATURE = {"method": "simclr", "batch_size": 32}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "selfsup" / "precision.json"


def timer(seconds):
    calls = []

    def time_steps():
        calls.append(1)
        return dict(seconds)

    return time_steps, calls


def test_the_faster_precision_is_chosen_timed_once_and_cached(cache):
    time_steps, calls = timer({"32-true": 0.1, "bf16-mixed": 0.2})
    choice, note = prec.measured_precision(SIGNATURE, time_steps)
    assert choice == "32-true" and calls == [1]
    assert (
        "chose 32-true" in note and "0.1 s at 32-true vs 0.2 s at bf16-mixed" in note and "timed now" in note
    )
    assert cache.is_file()
    again, note = prec.measured_precision(SIGNATURE, time_steps)
    assert again == "32-true" and calls == [1] and f"cached in {cache}" in note
    time_steps, calls = timer({"32-true": 0.3, "bf16-mixed": 0.2})
    assert prec.measured_precision({**SIGNATURE, "batch_size": 64}, time_steps)[0] == "bf16-mixed"
    assert calls == [1] and len(json.loads(cache.read_text())) == 2


def test_a_corrupt_cache_is_timed_again_and_rewritten(cache):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    time_steps, calls = timer({"32-true": 0.3, "bf16-mixed": 0.2})
    assert prec.measured_precision(SIGNATURE, time_steps)[0] == "bf16-mixed" and calls == [1]
    assert len(json.loads(cache.read_text())) == 1


def test_an_unwritable_cache_still_chooses_and_says_so(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the cache folder would go
    time_steps, _ = timer({"32-true": 0.1, "bf16-mixed": 0.2})
    choice, note = prec.measured_precision(SIGNATURE, time_steps)
    assert choice == "32-true" and "not cached" in note


def test_only_auto_on_a_native_bf16_cpu_is_measured(monkeypatch):
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: True)
    assert prec.measures_precision("auto", "cpu")
    assert not prec.measures_precision("32-true", "cpu") and not prec.measures_precision("bf16-mixed", "cpu")
    assert not prec.measures_precision("auto", "gpu")
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    assert not prec.measures_precision("auto", "cpu")  # emulated bf16 is ~10x slower: fp32 without timing
    assert prec.resolve_precision("auto", "cpu") == "32-true"


def test_time_precisions_times_each_candidate_and_changes_no_result(tmp_path):
    cfg = tiny_config(tmp_path, "train.max_steps=4")
    from selfsup.data import create_dataset

    dataset = create_dataset("digits", "train")
    method = build_method(cfg, dataset.channels, dataset.image_size[0])
    derived = derive(cfg, len(dataset))
    before = {k: v.clone() for k, v in method.state_dict().items()}
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    seconds = time_precisions(method, dataset, cfg, derived, prec.MEASURED, steps=2)
    assert set(seconds) == set(prec.MEASURED) and all(s > 0 for s in seconds.values())
    assert torch.equal(torch.rand(3), expected)  # the global RNG is restored
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())  # copies were timed


def test_a_run_records_the_measured_choice_and_a_resume_keeps_it(tmp_path, monkeypatch, caplog):
    import selfsup.train.pretrain as pretrain_module

    monkeypatch.setattr(pretrain_module, "measures_precision", lambda *a: True)
    monkeypatch.setattr(
        pretrain_module, "time_precisions", lambda *a, **k: {"32-true": 0.1, "bf16-mixed": 0.5}
    )
    cfg = tiny_config(tmp_path, "train.max_steps=4", "train.precision=auto", "train.run_name=r")
    with caplog.at_level(logging.WARNING):
        result = pretrain(cfg)
    assert load_derived(result.run_dir).precision == "32-true"
    assert any("train.precision=auto chose 32-true" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(
        pretrain_module, "time_precisions", lambda *a, **k: {"32-true": 0.9, "bf16-mixed": 0.1}
    )
    longer = tiny_config(tmp_path, "train.max_steps=6", "train.precision=auto", "train.run_name=r")
    resumed = pretrain(longer, resume=result.run_dir / "checkpoints" / "last.ckpt")
    assert resumed.derived.precision == "32-true"  # the run's own choice, not a new measurement
