"""PhaseTimer: wall time accumulated per phase, reported per step in the step's order."""

from __future__ import annotations

import time

import pytest

from selfsup.train.phase_timer import PhaseTimer


def test_phases_accumulate_and_report_per_step_in_step_order() -> None:
    timer = PhaseTimer()
    for _ in range(2):
        with timer("custom"):
            time.sleep(0.01)
        with timer("update"):
            pass
        with timer("views"):
            time.sleep(0.02)
    per_step = timer.per_step_ms(2)
    assert list(per_step) == ["views", "update", "custom"]  # the step's phases first, in their order
    assert per_step["views"] >= 20.0 and per_step["custom"] >= 10.0  # slept 2 x 20 ms and 2 x 10 ms
    assert per_step["update"] < per_step["custom"]
    timer.reset()
    assert timer.seconds == {}


def test_a_phase_that_raises_is_still_charged() -> None:
    timer = PhaseTimer()
    with pytest.raises(RuntimeError), timer("forward"):
        time.sleep(0.005)
        raise RuntimeError("boom")
    assert timer.seconds["forward"] >= 0.005


def test_per_step_needs_a_step() -> None:
    with pytest.raises(ValueError, match="steps must be >= 1"):
        PhaseTimer().per_step_ms(0)
