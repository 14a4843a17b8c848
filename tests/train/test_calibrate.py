"""The time budget is kept: the calibration's forecast against a simulated run, and the binding-limit line."""

from __future__ import annotations

import json
import logging
import random
import statistics

import pytest

from selfsup.train.calibrate import (
    TRAINER_STEP_SECONDS,
    WARMUP_STEPS,
    RunCost,
    binding_limit,
    measure_run_cost,
)
from selfsup.train.config import derive
from selfsup.train.config_loader import load_run_config


class FakeMachine:
    """Wall time that advances only by the work done: steps of 0.5 s ± 20 % (seeded), 4x slower for the
    first three (allocator growth), a 0.5 s pause every 10th step (garbage collection, a neighbour's
    burst), 0.8 s per checkpoint save, 3 s to load the online kNN's data and 6 s per kNN check."""

    def __init__(self, seed: int) -> None:
        self.now, self.rng, self.step_no = 0.0, random.Random(seed), 0

    def clock(self) -> float:
        return self.now

    def step(self, _: int = 0) -> None:
        cost = 0.5 * (4 if self.step_no < 3 else 1) * self.rng.uniform(0.8, 1.2)
        self.now += cost + (0.5 if self.step_no % 10 == 9 else 0.0)
        self.step_no += 1

    def save(self) -> None:
        self.now += 0.8

    def knn_data(self) -> None:
        self.now += 3.0

    def knn_check(self) -> None:
        self.now += 6.0

    def train(self, steps: int, checkpoint_every: int, knn_every: int) -> float:
        """What the run itself then takes: its steps (its own first ones slow again), two saves per
        checkpoint interval, the kNN checks, and the final checkpoint + export."""
        start, self.step_no = self.now, 0
        for s in range(1, steps + 1):
            self.step()
            if s % checkpoint_every == 0:
                self.save(), self.save()
            if knn_every and s % knn_every == 0:
                self.knn_check()
        self.save(), self.save()
        return self.now - start


def train_cfg(*overrides):
    return load_run_config(None, list(overrides), method="simclr").train


@pytest.mark.parametrize("minutes", [1, 3, 8])
@pytest.mark.parametrize(
    ("checkpoint_every", "knn_every"), [(500, 0), (50, 100)], ids=["plain", "checkpoints+online-knn"]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_forecast_is_within_10_percent_of_the_run_and_the_budget(
    minutes, checkpoint_every, knn_every, seed
):
    machine = FakeMachine(seed)
    train = train_cfg(f"train.checkpoint_every={checkpoint_every}", f"train.online_knn_every={knn_every}")
    budget = 60 * minutes
    cost = measure_run_cost(
        machine.step, machine.save, train, budget, machine.knn_data, machine.knn_check, clock=machine.clock
    )
    calibration = machine.now
    steps = cost.steps_within(budget)
    actual = calibration + machine.train(steps, checkpoint_every, knn_every)
    assert actual == pytest.approx(cost.seconds(steps), rel=0.10)
    assert actual == pytest.approx(budget, rel=0.10)
    assert cost.timed_steps >= (10 if minutes >= 3 else 5)


def test_the_old_estimate_missed_what_the_run_does_besides_its_steps():
    """The reason a 3-minute budget took 4: the median of 5 bare steps (× 0.9 margin) left out the pauses,
    checkpoints and online kNN checks that the run pays for; here it overshoots by more than 15 %."""
    machine = FakeMachine(0)
    for _ in range(2):
        machine.step()
    times = []
    for _ in range(5):
        start = machine.now
        machine.step()
        times.append(machine.now - start)
    steps = int(180 * 0.9 / statistics.median(times))
    assert machine.train(steps, 50, 100) > 1.15 * 180


def test_warmup_steps_are_not_timed():
    machine = FakeMachine(0)
    cost = measure_run_cost(machine.step, machine.save, train_cfg(), 480, clock=machine.clock)
    assert cost.step_seconds == pytest.approx(
        0.5 + 0.5 / 10 + TRAINER_STEP_SECONDS, rel=0.1
    )  # no 2 s warm-up step in the mean
    assert WARMUP_STEPS == 3


def binding(*overrides, step_seconds=0.5):
    cfg = load_run_config(None, ["train.time_budget_minutes=8", *overrides], method="simclr")
    planned = derive(cfg, 256 * 100)  # 100 steps per epoch
    cost = RunCost(step_seconds + 0.01, 12.0)
    return binding_limit(cfg, planned, cost.steps_within(480), cost)


def test_the_binding_limit_is_named_at_the_start():
    epochs = binding("train.epochs=2")
    assert epochs.startswith("train.epochs=2 binds before the time budget: 200 steps (2.00 epochs)")
    assert "vs 917 steps that fit train.time_budget_minutes=8" in epochs and "raise train.epochs" in epochs
    max_steps = binding("train.max_steps=300")
    assert max_steps.startswith("train.max_steps=300 binds before the time budget: 300 steps")
    budget = binding("train.epochs=20")
    assert budget.startswith("train.time_budget_minutes=8 binds: 917 steps (9.17 epochs), predicted 8.0 min")
    assert budget.endswith("vs 2,000 steps of train.epochs=20")


def test_a_budgeted_run_says_which_limit_binds_and_records_its_forecast(tmp_path, caplog):
    from selfsup.train.pretrain import pretrain
    from tests.train.test_pretrain import tiny_config

    cfg = tiny_config(tmp_path, "train.epochs=1", "train.time_budget_minutes=5", "train.run_name=bound")
    with caplog.at_level(logging.WARNING):
        result = pretrain(cfg)
    steps = json.loads((result.run_dir / "derived.json").read_text())["steps_per_epoch"]
    assert f"train.epochs=1 binds before the time budget: {steps} steps (1.00 epochs)" in caplog.text
    assert "steps that fit train.time_budget_minutes=5" in caplog.text
    assert "the time-budget calibration predicted" in caplog.text
    stats = json.loads((result.run_dir / "train_stats.json").read_text())
    assert stats["steps"] == steps and stats["predicted_seconds"] > 0


@pytest.mark.parametrize("compile_", [False, True])
def test_the_probe_is_compiled_when_the_run_will_be(tmp_path, monkeypatch, compile_):
    """With ``train.compile`` the run steps a compiled method, so the calibration must time one too."""
    import selfsup.train.calibrate as calibrate
    from selfsup.data import create_dataset
    from selfsup.train.build import build_method
    from tests.train.test_pretrain import tiny_config

    compiled = []
    monkeypatch.setattr(calibrate, "compile_method", lambda m: compiled.append(m) or 1)
    cfg = tiny_config(tmp_path, f"train.compile={str(compile_).lower()}")
    method = build_method(cfg, 1, 8)
    dataset = create_dataset(cfg.data.name, "train", image_size=8)
    probe, _, step = calibrate.probe_step(
        method, dataset, cfg, derive(cfg, len(dataset)), calibrate._device(cfg)
    )
    step(0)
    assert compiled == ([probe] if compile_ else []) and probe is not method
