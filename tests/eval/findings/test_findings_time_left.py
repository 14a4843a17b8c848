"""The findings runner's estimate of the pretraining still to do, from the runs it has timed."""

from pathlib import Path

import pytest

from selfsup.eval.findings.pretraining import PlannedRun, pretraining_left, run_kind


def _run(method: str, config: str, epochs: str, seed: int) -> PlannedRun:
    overrides = [f"train.epochs={epochs}", f"train.seed={seed}"]
    return PlannedRun(method, Path(config), overrides, Path(f"/runs/{method}-s{seed}"), seed, "fashion_mnist")


def test_seeds_share_a_kind_and_epochs_or_configs_do_not() -> None:
    assert run_kind(_run("mae", "mae.yaml", "1", 0)) == run_kind(_run("mae", "mae.yaml", "1", 2))
    assert run_kind(_run("mae", "mae.yaml", "1", 0)) != run_kind(_run("mae", "mae.yaml", "2", 0))
    assert run_kind(_run("mae", "mae.yaml", "1", 0)) != run_kind(_run("simclr", "simclr.yaml", "1", 0))


def test_each_pending_run_costs_its_kinds_mean_and_an_untimed_kind_the_overall_mean() -> None:
    mae, simclr, dino = (run_kind(_run(m, f"{m}.yaml", "1", 0)) for m in ("mae", "simclr", "dino"))
    timed = {mae: [100.0, 140.0], simclr: [600.0]}  # means 120 and 600; overall mean (100+140+600)/3 = 280
    assert pretraining_left([mae, mae, simclr], timed) == pytest.approx(120 + 120 + 600)
    assert pretraining_left([dino], timed) == pytest.approx(280)
    assert pretraining_left([], timed) == 0
    assert pretraining_left([mae], {}) is None  # nothing timed yet: no estimate
