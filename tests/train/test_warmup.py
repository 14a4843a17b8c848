"""Warm-up is a small share of any run: capped at MAX_WARMUP_FRACTION, with a note when capped."""

import pytest

from selfsup.schedules import MAX_WARMUP_FRACTION, capped_warmup, warmup_cosine
from selfsup.train.config import derive, warmup_cap_note
from selfsup.train.config_loader import load_run_config
from selfsup.types import Progress

ITEMS = 256 * 100  # 100 steps per epoch at the default batch of 256


def cfg(*overrides):
    return load_run_config(None, list(overrides), method="simclr")


@pytest.mark.parametrize(
    ("epochs", "warmup_epochs"),
    [(100, 10), (300, 40), (300, 10), (800, 40)],  # SimCLR, MoCo v3, DINO, MAE: the papers' recipes
)
def test_the_papers_recipes_keep_their_warmup(epochs, warmup_epochs):
    c = cfg(f"train.epochs={epochs}", f"optim.warmup_epochs={warmup_epochs}")
    d = derive(c, ITEMS)
    assert d.warmup_steps == warmup_epochs * 100 and warmup_cap_note(c, d) is None


def test_a_run_shorter_than_its_warmup_is_capped_and_still_decays():
    # The reported case: 100 steps with 10 warm-up epochs of 10 had 99 warm-up steps and never decayed.
    c = cfg("train.epochs=1", "optim.warmup_epochs=10")
    d = derive(c, ITEMS)
    assert d.total_steps == 100 and d.warmup_steps == 15 == int(MAX_WARMUP_FRACTION * 100)
    lrs = [warmup_cosine(Progress(s, d.total_steps), 1.0, 0.0, d.warmup_steps) for s in range(101)]
    assert lrs[14] == pytest.approx(1.0) and lrs[57] == pytest.approx(0.5, abs=0.02) and lrs[100] == 0.0
    note = warmup_cap_note(c, d)
    assert "optim.warmup_epochs=10 is 1,000 warm-up steps of the run's 100" in note and "15 %" in note


def test_a_budget_shrinks_warmup_in_proportion_before_any_cap():
    c = cfg("train.epochs=100", "optim.warmup_epochs=10")
    d = derive(c, ITEMS, step_cap=500)  # a time budget allows 5 of the 100 epochs
    assert d.total_steps == 500 and d.warmup_steps == 50 and warmup_cap_note(c, d) is None


@pytest.mark.parametrize(
    ("requested", "total", "expected"), [(5.6, 8, 1), (3, 6, 0), (0, 100, 0), (12.4, 100, 12)]
)
def test_capped_warmup(requested, total, expected):
    assert capped_warmup(requested, total) == expected
