"""Schedules are pure functions of progress; the sampler's batches are a pure function of the step."""

import math

import pytest
import torch

from selfsup.schedules import linear_warmup, scaled_lr, warmup_cosine
from selfsup.train.config import derive
from selfsup.train.config_loader import load_run_config
from selfsup.train.sampler import StepBatchSampler
from selfsup.types import Progress


def test_warmup_cosine_shape():
    total, warm, peak, final = 100, 10, 1.0, 0.1
    values = [warmup_cosine(Progress(s, total), peak, final, warm) for s in range(total + 1)]
    assert values[0] == pytest.approx(peak / warm)
    assert values[warm - 1] == pytest.approx(peak)
    assert values[warm] == pytest.approx(peak)
    assert values[total] == pytest.approx(final)
    mid = warm + (total - warm) // 2
    assert values[mid] == pytest.approx(final + 0.5 * (peak - final) * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(values[warm:], values[warm + 1 :], strict=False))


def test_linear_warmup_and_scaling():
    assert linear_warmup(Progress(0, 10), 0.04, 0.07, 4) == pytest.approx(0.04)
    assert linear_warmup(Progress(2, 10), 0.04, 0.07, 4) == pytest.approx(0.055)
    assert linear_warmup(Progress(7, 10), 0.04, 0.07, 4) == pytest.approx(0.07)
    assert scaled_lr(0.3, 512) == pytest.approx(0.6)
    assert scaled_lr(0.075, 4096, "sqrt") == pytest.approx(4.8)
    with pytest.raises(ValueError, match="lr scaling"):
        scaled_lr(0.1, 256, "cubic")


def test_derive_batch_too_large_for_data():
    cfg = load_run_config(None, ["train.batch_size=512"], method="simclr")
    with pytest.raises(ValueError, match="lower train.batch_size"):
        derive(cfg, train_items=100)
    d = derive(cfg, train_items=60000, world_size=2)
    assert d.global_batch == 1024 and d.steps_per_epoch == 58 and d.peak_lr == pytest.approx(0.3 * 4)


def test_sampler_epochs_are_permutations_and_resume_continues():
    s = StepBatchSampler(100, 10, total_steps=25, seed=3)
    batches = list(s)
    assert len(batches) == 25
    epoch0 = sorted(i for b in batches[:10] for i in b)
    assert epoch0 == list(range(100))
    assert batches[:10] != batches[10:20]  # a new permutation each epoch
    resumed = StepBatchSampler(100, 10, total_steps=25, seed=3, start_step=lambda: 7)
    assert list(resumed) == batches[7:]
    assert len(resumed) == 18


def test_sampler_two_ranks_equal_one_rank_with_double_batch():
    one = list(StepBatchSampler(64, 8, total_steps=6, seed=1))
    r0 = list(StepBatchSampler(64, 4, total_steps=6, world_size=2, rank=0, seed=1))
    r1 = list(StepBatchSampler(64, 4, total_steps=6, world_size=2, rank=1, seed=1))
    assert [a + b for a, b in zip(r0, r1, strict=True)] == one


def test_sampler_accumulation_splits_the_step_batch():
    one = list(StepBatchSampler(64, 8, total_steps=4, seed=1))
    acc = list(StepBatchSampler(64, 4, total_steps=4, accumulate=2, seed=1))
    assert [acc[2 * i] + acc[2 * i + 1] for i in range(4)] == one


def test_progress_validation():
    with pytest.raises(ValueError, match="total_steps"):
        Progress(0, 0)
    p = Progress(15, 100, steps_per_epoch=10)
    assert p.epoch == 1 and p.epoch_float == 1.5 and p.fraction == 0.15


def test_precision_auto_resolves_for_this_machine():
    from selfsup.train.precision import cpu_has_native_bf16, resolve_precision

    assert resolve_precision("32-true") == "32-true"
    expected = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
    if not torch.cuda.is_available():
        assert resolve_precision("auto", "cpu") == expected
